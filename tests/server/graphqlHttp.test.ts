import { cacheExchange, Client, fetchExchange } from '@urql/core';
import { createProduct, readyTenant, type SignedUp } from '../support/fixtures.js';
import { codeOf, gql, gqlGet, startTestServer, type TestServer } from '../support/server.js';

let server: TestServer;
let acme: SignedUp;
let globex: SignedUp;
beforeAll(async () => {
  server = await startTestServer();
  [acme, globex] = await Promise.all([readyTenant(server, 'acme'), readyTenant(server, 'globex')]);
  await createProduct(server, { token: acme.token }, 'ACME-1');
  await createProduct(server, { token: globex.token }, 'GLOBEX-1');
});
afterAll(() => server.close());

const SKUS = '{ products(first: 10) { edges { node { sku } } } }';
const skusOf = (data: any) => data.products.edges.map((e: { node: { sku: string } }) => e.node.sku);

describe('GET /graphql', () => {
  test("urql's default client (cacheExchange, fetchExchange) sends a query as GET and gets its data", async () => {
    const methods: string[] = [];
    const client = new Client({
      url: server.url,
      exchanges: [cacheExchange, fetchExchange],
      fetchOptions: { headers: { authorization: `Bearer ${acme.token}` } },
      fetch: (input, init) => {
        methods.push(init?.method ?? 'GET');
        return fetch(input, init);
      },
    });
    const r = await client.query(SKUS, {}).toPromise();
    expect(r.error).toBeUndefined();
    expect(skusOf(r.data)).toEqual(['ACME-1']);
    expect(methods).toEqual(['GET']);
  });

  test('a query over GET sees only its own tenant’s rows, like over POST', async () => {
    for (const [tenant, sku] of [[acme, 'ACME-1'], [globex, 'GLOBEX-1']] as const) {
      const r = await gqlGet(server, SKUS, {}, { token: tenant.token });
      expect(r.status).toBe(200);
      expect(skusOf(r.body.data)).toEqual([sku]);
    }
    const crossing = await gqlGet(server, SKUS, {}, { token: acme.token, tenant: 'globex' });
    expect([crossing.status, codeOf(crossing)]).toEqual([403, 'TENANT_MISMATCH']);
  });

  test('variables travel in the query string', async () => {
    const r = await gqlGet(server, 'query($first: Int!) { products(first: $first) { totalCount edges { node { sku } } } }', { first: 1 }, { token: globex.token });
    expect(r.body).toEqual({ data: { products: { totalCount: 1, edges: [{ node: { sku: 'GLOBEX-1' } }] } } });
  });

  test('a mutation over GET is 405 with Allow: POST, and nothing is written', async () => {
    const r = await gqlGet(server, 'mutation { createProduct(input: {sku: "VIA-GET", name: "x", priceCents: 1}) { id } }', {}, { token: acme.token });
    expect([r.status, r.headers.get('allow'), codeOf(r)]).toEqual([405, 'POST', 'BAD_REQUEST']);
    const after = await gql(server, SKUS, {}, { token: acme.token });
    expect(skusOf(after.body.data)).toEqual(['ACME-1']);
  });

  test('a subscription over GET is refused like any operation but a query: 405, BAD_REQUEST', async () => {
    const r = await gqlGet(server, 'subscription { tenantStatusChanged { status } }', {}, { token: acme.token });
    expect([r.status, codeOf(r)]).toEqual([405, 'BAD_REQUEST']);
  });

  test('GET runs the same pipeline: its limits and its errors are those of POST', async () => {
    const deep = '{ customers { edges { node { orders { edges { node { customer { orders { edges { node { customer { id } } } } } } } } } } } }';
    const [overGet, overPost] = [await gqlGet(server, deep, {}, { token: acme.token }), await gql(server, deep, {}, { token: acme.token })];
    expect([overGet.status, codeOf(overGet)]).toEqual([overPost.status, codeOf(overPost)]);
    expect(codeOf(overGet)).toBe('QUERY_TOO_COMPLEX');
    const anonymous = await gqlGet(server, SKUS);
    expect([anonymous.status, codeOf(anonymous)]).toEqual([401, 'UNAUTHENTICATED']);
  });
});

test('an answer over POST carries no ETag; the same query over GET keeps its ETag, and the same body and content type', async () => {
  const accept = 'application/graphql-response+json, application/json';
  const overPost = await fetch(server.url, {
    method: 'POST',
    headers: { accept, 'content-type': 'application/json', authorization: `Bearer ${acme.token}` },
    body: JSON.stringify({ query: SKUS }),
  });
  const overGet = await gqlGet(server, SKUS, {}, { token: acme.token, headers: { accept } });
  expect(overPost.headers.get('etag')).toBeNull();
  expect(overGet.headers.get('etag')).toMatch(/^W\/"/);
  expect(overPost.headers.get('content-type')).toBe(overGet.headers.get('content-type'));
  expect(overPost.headers.get('content-length')).toBe(overGet.headers.get('content-length'));
  expect(await overPost.json()).toEqual(overGet.body);
});

test('GET counts against the rate limit like POST', async () => {
  const limited = await startTestServer({ db: server.db, env: { RATE_LIMIT_PER_MINUTE: '3' } });
  try {
    const statuses = [];
    for (let i = 0; i < 2; i++) statuses.push((await gql(limited, '{ __typename }')).status, (await gqlGet(limited, '{ __typename }')).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
  } finally {
    await limited.close();
  }
});
