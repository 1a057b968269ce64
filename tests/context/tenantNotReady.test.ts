import { signUp, type SignedUp, superadminToken } from '../support/fixtures.js';
import { codeOf, gql, type GqlResponse, startTestServer, type TestServer, wsClient, wsRequest } from '../support/server.js';

// No provisioning worker: signed-up tenants stay PENDING.
let server: TestServer;
let pending: SignedUp;
let root: string;
beforeAll(async () => {
  server = await startTestServer({ worker: false });
  pending = await signUp(server, 'pending-co');
  root = await superadminToken(server);
});
afterAll(() => server.close());

const ID = '00000000-0000-4000-8000-000000000000';

function expectNotReady(r: GqlResponse) {
  expect({ status: r.status, code: codeOf(r), data: r.body.data ?? null }).toEqual({ status: 409, code: 'TENANT_NOT_READY', data: null });
}

test('the tenant really is PENDING (no worker prepared it)', async () => {
  const { rows } = await server.db.owner.query('select status from tenant where id = $1', [pending.tenantId]);
  expect(rows).toEqual([{ status: 'PENDING' }]);
});

test('products, customers, orders and users give TENANT_NOT_READY (409)', async () => {
  for (const query of ['{ products { totalCount } }', '{ customers { totalCount } }', '{ orders { totalCount } }', '{ users { id } }']) {
    const r = await gql(server, query, {}, { token: pending.token });
    expect({ query, status: r.status, code: codeOf(r), data: r.body.data ?? null }).toEqual({ query, status: 409, code: 'TENANT_NOT_READY', data: null });
  }
});

test('single records by id give TENANT_NOT_READY too', async () => {
  for (const field of ['product', 'customer', 'order']) {
    const r = await gql(server, `query($id: ID!) { ${field}(id: $id) { id } }`, { id: ID }, { token: pending.token });
    expect({ field, status: r.status, code: codeOf(r) }).toEqual({ field, status: 409, code: 'TENANT_NOT_READY' });
  }
});

test('writes of tenant data give TENANT_NOT_READY and write nothing', async () => {
  expectNotReady(await gql(server, 'mutation { createProduct(input: {sku: "P-1", name: "P", priceCents: 1}) { id } }', {}, { token: pending.token }));
  expectNotReady(await gql(server, 'mutation { createCustomer(input: {name: "Early"}) { id } }', {}, { token: pending.token }));
  expectNotReady(await gql(server, 'mutation { createUser(input: {email: "m@pending.example.com", password: "0123456789", role: MEMBER}) { id } }', {}, { token: pending.token }));
  const counts = await server.db.owner.query(
    `select (select count(*) from product where tenant_id = $1)::int as products, (select count(*) from customer where tenant_id = $1)::int as customers, (select count(*) from "user" where tenant_id = $1)::int as users`,
    [pending.tenantId],
  );
  expect(counts.rows[0]).toEqual({ products: 0, customers: 0, users: 1 });
});

test('TENANT_NOT_READY carries the tenant status', async () => {
  const r = await gql(server, '{ products { totalCount } }', {}, { token: pending.token });
  expect(r.body.errors?.[0].extensions).toMatchObject({ code: 'TENANT_NOT_READY', status: 'PENDING' });
});

test('me and currentTenant work while the tenant is not READY', async () => {
  const r = await gql(server, '{ me { id role } currentTenant { id slug status } }', {}, { token: pending.token });
  expect(r.status).toBe(200);
  expect(r.body).toEqual({ data: { me: { id: pending.userId, role: 'ADMIN' }, currentTenant: { id: pending.tenantId, slug: 'pending-co', status: 'PENDING' } } });
});

test('a query mixing me with a nullable tenant field returns me and TENANT_NOT_READY on that field (200)', async () => {
  const r = await gql(server, 'query($id: ID!) { me { id } product(id: $id) { id } }', { id: ID }, { token: pending.token });
  expect(r.status).toBe(200);
  expect(r.body.data).toEqual({ me: { id: pending.userId }, product: null });
  expect(r.body.errors?.map((e) => [e.path, e.extensions.code])).toEqual([[['product'], 'TENANT_NOT_READY']]);
});

test('a query mixing me with products (non-null) fails whole with TENANT_NOT_READY (409)', async () => {
  expectNotReady(await gql(server, '{ me { id } products { totalCount } }', {}, { token: pending.token }));
});

test('tenantStatusChanged works over WebSocket while the tenant is not READY, and so do me and products errors', async () => {
  const client = wsClient(server, { token: pending.token });
  try {
    const status = await new Promise<unknown>((resolve, reject) => {
      const stop = client.subscribe({ query: 'subscription { tenantStatusChanged { tenantId status } }' }, {
        next: (r) => {
          resolve(r);
          stop();
        },
        error: reject,
        complete: () => undefined,
      });
    });
    expect(status).toEqual({ data: { tenantStatusChanged: { tenantId: pending.tenantId, status: 'PENDING' } } });
    expect(await wsRequest(client, '{ me { id } }')).toEqual({ data: { me: { id: pending.userId } } });
    const products = await wsRequest(client, '{ products { totalCount } }');
    expect(products.data ?? null).toBeNull();
    expect(products.errors?.[0].extensions?.code).toBe('TENANT_NOT_READY');
  } finally {
    await client.dispose();
  }
});

test('a superadmin inside a tenant that is not READY gets TENANT_NOT_READY on its data', async () => {
  expectNotReady(await gql(server, '{ products { totalCount } }', {}, { token: root, tenant: 'pending-co' }));
  const r = await gql(server, '{ currentTenant { status } }', {}, { token: root, tenant: 'pending-co' });
  expect(r.body).toEqual({ data: { currentTenant: { status: 'PENDING' } } });
});
