import { createProduct, PASSWORD, readyTenant, type SignedUp } from '../support/fixtures.js';
import { codeOf, gql, startTestServer, type TestServer } from '../support/server.js';

// The contract's rule: no data (null or absent) → the status listed for the first error's code; any data → 200.
let server: TestServer;
let acme: SignedUp;
let member: string;
const UNKNOWN_ID = '00000000-0000-4000-8000-000000000000';
const CONTRACT_STATUS: Record<string, number> = { BAD_USER_INPUT: 400, FORBIDDEN: 403, UNAUTHENTICATED: 401, CONFLICT: 409, TENANT_MISMATCH: 403 };

beforeAll(async () => {
  server = await startTestServer();
  acme = await readyTenant(server, 'acme');
  await createProduct(server, { token: acme.token }, 'DUP');
  await gql(server, 'mutation($i: CreateUserInput!) { createUser(input: $i) { id } }', { i: { email: 'm@acme.example.com', password: PASSWORD, role: 'MEMBER' } }, { token: acme.token });
  const login = await gql(server, 'mutation($i: LoginInput!) { login(input: $i) { accessToken } }', { i: { email: 'm@acme.example.com', password: PASSWORD, tenant: 'acme' } });
  member = login.body.data.login.accessToken;
});
afterAll(() => server.close());

test('some data and an error on a nullable field: 200, with the data and the error', async () => {
  const r = await gql(server, '{ me { email } product(id: "not-a-uuid") { id } }', {}, { token: acme.token });
  expect(r.status).toBe(200);
  expect(r.body.data).toEqual({ me: { email: 'admin@acme.example.com' }, product: null });
  expect(r.body.errors?.map((e) => [e.path, e.extensions.code])).toEqual([[['product'], 'BAD_USER_INPUT']]);
});

test('some data and a FORBIDDEN superadmin-only field: 200', async () => {
  const r = await gql(server, `{ me { role } tenant(id: "${UNKNOWN_ID}") { id } }`, {}, { token: member });
  expect(r.status).toBe(200);
  expect(r.body.data).toEqual({ me: { role: 'MEMBER' }, tenant: null });
  expect(codeOf(r)).toBe('FORBIDDEN');
});

test('a failing non-null root field nulls data: the status is its code’s', async () => {
  const cases: [string, string, string | undefined, string][] = [
    ['BAD_USER_INPUT', '{ me { id } products(first: 0) { totalCount } }', acme.token, 'products'],
    ['FORBIDDEN', '{ me { id } users { id } }', member, 'users'],
    ['UNAUTHENTICATED', '{ me { id } products { totalCount } }', undefined, 'products'],
    ['CONFLICT', 'mutation { createProduct(input: {sku: "DUP", name: "again", priceCents: 1}) { id } }', acme.token, 'createProduct'],
  ];
  for (const [code, query, token, path] of cases) {
    const r = await gql(server, query, {}, { token });
    expect({ code, status: r.status, data: r.body.data, errors: r.body.errors?.map((e) => [e.path?.[0], e.extensions.code]) }).toEqual({
      code,
      status: CONTRACT_STATUS[code],
      data: null,
      errors: [[path, code]],
    });
  }
});

test('every root field null because it failed counts as no data: the status is the error’s', async () => {
  const r = await gql(server, '{ product(id: "not-a-uuid") { id } }', {}, { token: acme.token });
  expect(r.status).toBe(400);
  expect(codeOf(r)).toBe('BAD_USER_INPUT');
});

test('with no data and several errors, the status is the first error’s', async () => {
  const r = await gql(server, `{ product(id: "not-a-uuid") { id } tenant(id: "${UNKNOWN_ID}") { id } }`, {}, { token: member });
  const codes = r.body.errors?.map((e) => e.extensions.code);
  expect([...(codes ?? [])].sort()).toEqual(['BAD_USER_INPUT', 'FORBIDDEN']);
  expect(r.status).toBe(CONTRACT_STATUS[codes![0]]);
});

test('a request refused before execution has no data at all, and the status is the code’s', async () => {
  const r = await gql(server, '{ me { id } }', {}, { token: acme.token, tenant: 'someone-else' });
  expect(r.status).toBe(404);
  expect(codeOf(r)).toBe('TENANT_NOT_FOUND');
  expect(r.body.data ?? null).toBeNull();
});

test('a null field without any error is a plain 200', async () => {
  const r = await gql(server, `query($id: ID!) { me { id } product(id: $id) { id } }`, { id: UNKNOWN_ID }, { token: acme.token });
  expect(r.status).toBe(200);
  expect(r.body).toEqual({ data: { me: { id: acme.userId }, product: null } });
  const anonymous = await gql(server, '{ me { id } }');
  expect(anonymous.status).toBe(200);
  expect(anonymous.body).toEqual({ data: { me: null } });
});
