import { createCustomer, createOrder, createProduct, PASSWORD, readyTenant, type SignedUp } from '../support/fixtures.js';
import { codeOf, gql, type GqlResponse, startTestServer, type TestServer } from '../support/server.js';
import { claimsOf } from '../support/tokens.js';

let server: TestServer;
let acme: SignedUp;
let member: string;
let memberId: string;
let productId: string;
let customerId: string;
let orderId: string;

const CREATE_USER = 'mutation($i: CreateUserInput!) { createUser(input: $i) { id email role tenant { id } } }';

beforeAll(async () => {
  server = await startTestServer();
  acme = await readyTenant(server, 'acme');
  const created = await gql(server, CREATE_USER, { i: { email: 'member@acme.example.com', password: PASSWORD, role: 'MEMBER' } }, { token: acme.token });
  expect(created.body.errors).toBeUndefined();
  memberId = created.body.data.createUser.id;
  const login = await gql(server, 'mutation($i: LoginInput!) { login(input: $i) { accessToken user { role } } }', { i: { email: 'member@acme.example.com', password: PASSWORD, tenant: 'acme' } });
  member = login.body.data.login.accessToken;
  productId = await createProduct(server, { token: acme.token }, 'SKU-1', 250);
  customerId = await createCustomer(server, { token: acme.token }, 'Existing customer');
  orderId = (await createOrder(server, { token: acme.token }, customerId, [{ productId, quantity: 2 }])).id;
});
afterAll(() => server.close());

function expectForbidden(r: GqlResponse) {
  expect({ status: r.status, code: codeOf(r), data: r.body.data ?? null }).toEqual({ status: 403, code: 'FORBIDDEN', data: null });
}

const count = async (sql: string) => (await server.db.owner.query(sql, [acme.tenantId])).rows[0].n as number;

test('createUser by an ADMIN makes a MEMBER of the tenant who can log in', async () => {
  const r = await gql(server, '{ me { id email role tenant { id } } }', {}, { token: member });
  expect(r.body.data.me).toEqual({ id: memberId, email: 'member@acme.example.com', role: 'MEMBER', tenant: { id: acme.tenantId } });
  expect(claimsOf(member)).toMatchObject({ sub: memberId, role: 'MEMBER', tenantId: acme.tenantId });
});

test('createUser by an ADMIN can make another ADMIN', async () => {
  const r = await gql(server, CREATE_USER, { i: { email: 'second-admin@acme.example.com', password: PASSWORD, role: 'ADMIN' } }, { token: acme.token });
  expect(r.body.errors).toBeUndefined();
  expect(r.body.data.createUser).toMatchObject({ email: 'second-admin@acme.example.com', role: 'ADMIN', tenant: { id: acme.tenantId } });
});

test('a MEMBER reads products, customers, orders and single records', async () => {
  const r = await gql(
    server,
    `query($p: ID!, $c: ID!, $o: ID!) {
      products { totalCount } customers { totalCount } orders { totalCount edges { node { id } } }
      product(id: $p) { sku } customer(id: $c) { name } order(id: $o) { totalCents lines { quantity } }
      currentTenant { slug }
    }`,
    { p: productId, c: customerId, o: orderId },
    { token: member },
  );
  expect(r.body.errors).toBeUndefined();
  expect(r.body.data).toMatchObject({
    products: { totalCount: 1 },
    customers: { totalCount: 1 },
    orders: { totalCount: 1, edges: [{ node: { id: orderId } }] },
    product: { sku: 'SKU-1' },
    customer: { name: 'Existing customer' },
    order: { totalCents: 500, lines: [{ quantity: 2 }] },
    currentTenant: { slug: 'acme' },
  });
});

test('a MEMBER creates customers and orders and sets order status', async () => {
  const c = await createCustomer(server, { token: member }, 'Member customer');
  const o = await createOrder(server, { token: member }, c, [{ productId, quantity: 1 }]);
  expect(o.totalCents).toBe(250);
  const r = await gql(server, 'mutation($id: ID!) { setOrderStatus(id: $id, status: PAID) { status } }', { id: o.id }, { token: member });
  expect(r.body).toEqual({ data: { setOrderStatus: { status: 'PAID' } } });
});

test('a MEMBER gets FORBIDDEN (403) on createProduct, and nothing is written', async () => {
  const before = await count('select count(*)::int as n from product where tenant_id = $1');
  expectForbidden(await gql(server, 'mutation { createProduct(input: {sku: "M-1", name: "By member", priceCents: 1}) { id } }', {}, { token: member }));
  expect(await count('select count(*)::int as n from product where tenant_id = $1')).toBe(before);
});

test('a MEMBER gets FORBIDDEN on updateProduct, and the product is unchanged', async () => {
  expectForbidden(await gql(server, 'mutation($id: ID!) { updateProduct(id: $id, patch: {priceCents: 1}) { id } }', { id: productId }, { token: member }));
  const { rows } = await server.db.owner.query('select price_cents from product where id = $1', [productId]);
  expect(rows).toEqual([{ price_cents: 250 }]);
});

test('a MEMBER gets FORBIDDEN on deleteProduct, and the product stays', async () => {
  const spare = await createProduct(server, { token: acme.token }, 'SPARE');
  expectForbidden(await gql(server, 'mutation($id: ID!) { deleteProduct(id: $id) }', { id: spare }, { token: member }));
  const { rows } = await server.db.owner.query('select 1 from product where id = $1', [spare]);
  expect(rows).toHaveLength(1);
});

test('a MEMBER gets FORBIDDEN on createUser, whatever the role asked for', async () => {
  for (const role of ['MEMBER', 'ADMIN', 'SUPERADMIN']) {
    expectForbidden(await gql(server, CREATE_USER, { i: { email: `by-member-${role.toLowerCase()}@acme.example.com`, password: PASSWORD, role } }, { token: member }));
  }
  expect(await count("select count(*)::int as n from \"user\" where tenant_id = $1 and email like 'by-member-%'")).toBe(0);
});

test('a MEMBER gets FORBIDDEN on users', async () => {
  expectForbidden(await gql(server, '{ users { id email } }', {}, { token: member }));
});

test('an ADMIN lists the tenant users', async () => {
  const r = await gql(server, '{ users { email role } }', {}, { token: acme.token });
  expect(r.body.errors).toBeUndefined();
  expect(r.body.data.users).toEqual(expect.arrayContaining([{ email: 'admin@acme.example.com', role: 'ADMIN' }, { email: 'member@acme.example.com', role: 'MEMBER' }]));
});

test('a MEMBER gets FORBIDDEN on addDomain, and no domain is added', async () => {
  expectForbidden(await gql(server, 'mutation { addDomain(hostname: "member.acme.example") { id } }', {}, { token: member }));
  const { rows } = await server.db.owner.query('select 1 from domain where hostname = $1', ['member.acme.example']);
  expect(rows).toEqual([]);
});

test('a MEMBER gets FORBIDDEN on verifyDomain, and the claim stays unverified', async () => {
  const added = await gql(server, 'mutation { addDomain(hostname: "claimed.acme.example") { id } }', {}, { token: acme.token });
  const id = added.body.data.addDomain.id;
  expectForbidden(await gql(server, 'mutation($id: ID!) { verifyDomain(id: $id) { id } }', { id }, { token: member }));
  const { rows } = await server.db.owner.query('select verified_at, is_active from domain where id = $1', [id]);
  expect(rows).toEqual([{ verified_at: null, is_active: false }]);
});

test('createUser with role SUPERADMIN gives BAD_USER_INPUT (400) and creates nobody', async () => {
  const r = await gql(server, CREATE_USER, { i: { email: 'wannabe@acme.example.com', password: PASSWORD, role: 'SUPERADMIN' } }, { token: acme.token });
  expect({ status: r.status, code: codeOf(r), data: r.body.data ?? null }).toEqual({ status: 400, code: 'BAD_USER_INPUT', data: null });
  expect(r.body.errors?.[0].extensions.field).toBe('role');
  const { rows } = await server.db.owner.query('select 1 from "user" where email = $1', ['wannabe@acme.example.com']);
  expect(rows).toEqual([]);
});

test('createUser validates email and password with BAD_USER_INPUT on the field', async () => {
  const bad = await gql(server, CREATE_USER, { i: { email: 'not-an-email', password: PASSWORD, role: 'MEMBER' } }, { token: acme.token });
  expect({ status: bad.status, ext: bad.body.errors?.[0].extensions }).toEqual({ status: 400, ext: expect.objectContaining({ code: 'BAD_USER_INPUT', field: 'email' }) });
  const short = await gql(server, CREATE_USER, { i: { email: 'short@acme.example.com', password: 'short', role: 'MEMBER' } }, { token: acme.token });
  expect({ status: short.status, ext: short.body.errors?.[0].extensions }).toEqual({ status: 400, ext: expect.objectContaining({ code: 'BAD_USER_INPUT', field: 'password' }) });
});

test('createUser with an email already in the tenant, in another case, gives CONFLICT (409)', async () => {
  const r = await gql(server, CREATE_USER, { i: { email: 'MEMBER@Acme.Example.com', password: PASSWORD, role: 'ADMIN' } }, { token: acme.token });
  expect({ status: r.status, code: codeOf(r), data: r.body.data ?? null }).toEqual({ status: 409, code: 'CONFLICT', data: null });
  const { rows } = await server.db.owner.query('select role from "user" where tenant_id = $1 and lower(email) = $2', [acme.tenantId, 'member@acme.example.com']);
  expect(rows).toEqual([{ role: 'MEMBER' }]);
});

test('the same email in another tenant is fine, and each logs in to its own tenant', async () => {
  const other = await readyTenant(server, 'other-co');
  const r = await gql(server, CREATE_USER, { i: { email: 'member@acme.example.com', password: 'another password 123', role: 'MEMBER' } }, { token: other.token });
  expect(r.body.errors).toBeUndefined();
  expect(r.body.data.createUser.tenant).toEqual({ id: other.tenantId });

  const login = (tenant: string, password: string) =>
    gql(server, 'mutation($i: LoginInput!) { login(input: $i) { user { id } tenant { slug } } }', { i: { email: 'member@acme.example.com', password, tenant } });
  expect((await login('other-co', 'another password 123')).body.data.login).toEqual({ user: { id: r.body.data.createUser.id }, tenant: { slug: 'other-co' } });
  expect((await login('acme', PASSWORD)).body.data.login).toEqual({ user: { id: memberId }, tenant: { slug: 'acme' } });
  expect(codeOf(await login('acme', 'another password 123'))).toBe('UNAUTHENTICATED');
});
