import { signUp, type SignedUp } from '../support/fixtures.js';
import { gql, gqlGet, startTestServer, type TestServer, wsClient, wsRequest } from '../support/server.js';

let server: TestServer;
let acme: SignedUp;
beforeAll(async () => {
  server = await startTestServer();
  acme = await signUp(server, 'acme');
});
afterAll(() => server.close());

const QUERY = 'query($with: Boolean!) { me @include(if: $with) { id } currentTenant @skip(if: $with) { slug } __typename @include(if: true) }';
const expected = (userId: string) => [
  { data: { me: { id: userId }, __typename: 'Query' } },
  { data: { currentTenant: { slug: 'acme' }, __typename: 'Query' } },
];

test('@include and @skip work over POST', async () => {
  const results = [await gql(server, QUERY, { with: true }, { token: acme.token }), await gql(server, QUERY, { with: false }, { token: acme.token })];
  expect(results.map((r) => r.body)).toEqual(expected(acme.userId));
});

test('@include and @skip work over GET', async () => {
  const results = [await gqlGet(server, QUERY, { with: true }, { token: acme.token }), await gqlGet(server, QUERY, { with: false }, { token: acme.token })];
  expect(results.map((r) => r.body)).toEqual(expected(acme.userId));
});

test('@include and @skip work over WebSocket', async () => {
  const client = wsClient(server, { token: acme.token });
  try {
    expect([await wsRequest(client, QUERY, { with: true }), await wsRequest(client, QUERY, { with: false })]).toEqual(expected(acme.userId));
  } finally {
    await client.dispose();
  }
});

test("the schema keeps every directive graphql specifies, beside its own @superadmin", async () => {
  const r = await gql(server, '{ __schema { directives { name } } }');
  expect(r.body.data.__schema.directives.map((d: { name: string }) => d.name).sort()).toEqual(['deprecated', 'include', 'oneOf', 'skip', 'specifiedBy', 'superadmin']);
});
