import { readyTenant, type SignedUp } from '../support/fixtures.js';
import { codeOf, gql, startTestServer, type TestServer, wsClient, wsRequest } from '../support/server.js';

let server: TestServer;
let t: SignedUp;
beforeAll(async () => {
  server = await startTestServer();
  t = await readyTenant(server, 'limits');
});
afterAll(() => server.close());

/** customer → orders → customer → … : depth grows by 4 per round trip. */
function deepQuery(levels: number): string {
  let selection = 'id';
  for (let i = 0; i < levels; i++) selection = `orders(first: 1) { edges { node { customer { ${selection} } } } }`;
  return `query($id: ID!) { customer(id: $id) { ${selection} } }`;
}

const PAGE_OF_100 = `query($first: Int) { orders(first: $first) { edges { node { number customer { name } lines { quantity product { name } } } } } }`;

describe('depth and complexity', () => {
  test('depth 9 passes, depth 13 is QUERY_TOO_COMPLEX (400) before anything runs', async () => {
    const ok = await gql(server, deepQuery(2), { id: '00000000-0000-4000-8000-000000000000' }, { token: t.token }); // depth 9
    expect(ok.body.errors).toBeUndefined();
    const r = await gql(server, deepQuery(3), { id: '00000000-0000-4000-8000-000000000000' }, { token: t.token }); // depth 12
    expect(codeOf(r)).toBe('QUERY_TOO_COMPLEX');
    expect(r.status).toBe(400);
  });

  test('a page of 100 orders with customer and lines with product passes', async () => {
    const r = await gql(server, PAGE_OF_100, { first: 100 }, { token: t.token });
    expect(r.body.errors).toBeUndefined();
  });

  test('complexity is computed with the variables: the same query is refused when first multiplies it past the limit', async () => {
    const nested = `query($n: Int) { customers(first: $n) { edges { node { orders(first: $n) { edges { node { lines { product { name } } } } } } } } }`;
    expect((await gql(server, nested, { n: 5 }, { token: t.token })).body.errors).toBeUndefined();
    const r = await gql(server, nested, { n: 100 }, { token: t.token });
    expect(codeOf(r)).toBe('QUERY_TOO_COMPLEX');
  });

  test('limits apply over WebSocket as well', async () => {
    const client = wsClient(server, { token: t.token });
    try {
      const r = await wsRequest(client, deepQuery(3), { id: '00000000-0000-4000-8000-000000000000' });
      expect(r.errors?.[0].extensions?.code).toBe('QUERY_TOO_COMPLEX');
    } finally {
      await client.dispose();
    }
  });
});

describe('malformed requests', () => {
  test('a body that is not JSON is BAD_REQUEST (400)', async () => {
    const res = await fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query": ' });
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).errors[0].extensions.code).toBe('BAD_REQUEST');
  });

  test('a body without a query is BAD_REQUEST (400)', async () => {
    const res = await fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).errors[0].extensions.code).toBe('BAD_REQUEST');
  });

  test('a syntax error is GRAPHQL_PARSE_FAILED over HTTP and WebSocket', async () => {
    expect(codeOf(await gql(server, '{ products { '))).toBe('GRAPHQL_PARSE_FAILED');
    const client = wsClient(server);
    try {
      const r = await wsRequest(client, '{ products { ');
      expect(r.errors?.[0].extensions?.code).toBe('GRAPHQL_PARSE_FAILED');
    } finally {
      await client.dispose();
    }
  });

  test('an unknown field is GRAPHQL_VALIDATION_FAILED (400)', async () => {
    const r = await gql(server, '{ prodcts { totalCount } }', {}, { token: t.token });
    expect(codeOf(r)).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(r.status).toBe(400);
    expect(r.body.errors![0].message).toMatch(/Did you mean/); // development keeps suggestions
  });

  test('an internal failure is masked: INTERNAL_SERVER_ERROR (500), no SQL, no stack', async () => {
    // A real database failure: the app role loses its grant on product for a moment.
    await server.db.owner.query('revoke select on product from tenantry_app');
    try {
      const r = await gql(server, `{ products { totalCount } }`, {}, { token: t.token });
      expect(codeOf(r)).toBe('INTERNAL_SERVER_ERROR');
      expect(r.status).toBe(500);
      expect(r.body.errors![0].message).toBe('Internal server error');
      expect(JSON.stringify(r.body.errors)).not.toMatch(/stack|select|permission|Exception/i);
    } finally {
      await server.db.owner.query('grant select on product to tenantry_app');
    }
  });
});

describe('in production', () => {
  let prod: TestServer;
  let token: string;
  beforeAll(async () => {
    prod = await startTestServer({ env: { NODE_ENV: 'production' } });
    token = (await readyTenant(prod, 'prod-t')).token;
  });
  afterAll(() => prod.close());

  test('introspection is off over HTTP and WebSocket', async () => {
    const r = await gql(prod, '{ __schema { types { name } } }', {}, { token });
    expect(codeOf(r)).toBe('GRAPHQL_VALIDATION_FAILED');
    const client = wsClient(prod, { token });
    try {
      const ws = await wsRequest(client, '{ __schema { types { name } } }');
      expect(ws.errors?.[0].extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    } finally {
      await client.dispose();
    }
  });

  test('validation errors carry no field suggestions', async () => {
    const r = await gql(prod, '{ prodcts { totalCount } }', {}, { token });
    expect(codeOf(r)).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(r.body.errors![0].message).not.toMatch(/Did you mean/);
  });
});
