import { codeOf, gql, startTestServer, type TestServer, wsClient, wsRequest } from '../support/server.js';
import { readyTenant } from '../support/fixtures.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.close());

test('a signed-up tenant becomes READY and can create a product over HTTP and WebSocket', async () => {
  const a = await readyTenant(server, 'alpha');
  const r = await gql(server, `mutation { createProduct(input: {sku: "A-1", name: "Apple", priceCents: 100}) { id sku } }`, {}, { token: a.token });
  expect(r.body.errors).toBeUndefined();
  const client = wsClient(server, { token: a.token });
  const res = await wsRequest(client, '{ products { totalCount edges { node { sku } } } }');
  expect(res.data.products.totalCount).toBe(1);
  await client.dispose();
  const anon = await gql(server, '{ products { totalCount } }');
  expect(codeOf(anon)).toBe('UNAUTHENTICATED');
  expect(anon.status).toBe(401);
});
