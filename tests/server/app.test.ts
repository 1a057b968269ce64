import { ApolloClient, gql as apolloGql, HttpLink, InMemoryCache } from '@apollo/client';
import { readyTenant } from '../support/fixtures.js';
import { gql, startTestServer, type TestServer, wsClient, wsSubscribe } from '../support/server.js';

let server: TestServer;
let base: string;
beforeAll(async () => {
  server = await startTestServer();
  base = server.url.replace(/\/graphql$/, '');
});
afterAll(() => server.close());

test('/healthz answers 200 {"status":"ok"}', async () => {
  const res = await fetch(`${base}/healthz`);
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({ status: 'ok' });
});

test('/readyz is 200 with migrations applied and 503 while one is missing', async () => {
  expect((await fetch(`${base}/readyz`)).status).toBe(200);
  const { rows } = await server.db.owner.query(`delete from mikro_orm_migrations where name = 'Migration20261125001000JobQueue' returning *`);
  try {
    expect((await fetch(`${base}/readyz`)).status).toBe(503);
  } finally {
    await server.db.owner.query(`insert into mikro_orm_migrations (name, executed_at) values ($1, $2)`, [rows[0].name, rows[0].executed_at]);
  }
  expect((await fetch(`${base}/readyz`)).status).toBe(200);
});

test('/metrics counts operations by name and outcome, never by tenant', async () => {
  const t = await readyTenant(server, 'metered');
  await gql(server, 'query ListProducts { products { totalCount } }', {}, { token: t.token });
  await gql(server, 'query ListProducts { products { totalCount } }');
  const text = await (await fetch(`${base}/metrics`)).text();
  expect(text).toMatch(/tenantry_graphql_operations_total\{operation="ListProducts",type="query",outcome="ok",transport="http"\} 1/);
  expect(text).toMatch(/tenantry_graphql_operations_total\{operation="ListProducts",type="query",outcome="UNAUTHENTICATED",transport="http"\} 1/);
  expect(text).not.toContain(t.tenantId);
});

test('responses carry security headers, and CORS lets browsers send the tenant header', async () => {
  const res = await fetch(server.url, { method: 'OPTIONS', headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,x-tenant-id,content-type' } });
  expect(res.status).toBe(204);
  expect(res.headers.get('access-control-allow-headers')).toMatch(/x-tenant-id/);
  const health = await fetch(`${base}/healthz`);
  expect(health.headers.get('x-content-type-options')).toBe('nosniff');
  expect(health.headers.get('x-powered-by')).toBeNull();
});

test("a browser's preflight for the headers Apollo Client sends with clientAwareness, a request id and trace context is allowed", async () => {
  // The header names Apollo Client 4 really sends, clientAwareness set as the web team sets it.
  const sent = new Set<string>();
  const client = new ApolloClient({
    clientAwareness: { name: 'web', version: '1.2.3' },
    cache: new InMemoryCache(),
    link: new HttpLink({
      uri: server.url,
      fetch: (input, init) => {
        new Headers(init?.headers).forEach((_value, name) => sent.add(name));
        return fetch(input, init);
      },
    }),
  });
  await client.query({ query: apolloGql`{ me { id } }`, fetchPolicy: 'network-only' });
  expect([...sent]).toEqual(expect.arrayContaining(['apollographql-client-name', 'apollographql-client-version', 'content-type']));
  // A browser's preflight names every header that is not CORS-safelisted (`accept` is).
  const requested = [...sent].filter((name) => name !== 'accept').concat('authorization', 'x-tenant-id', 'x-request-id', 'traceparent', 'x-apollo-operation-name');
  const origin = 'https://app.example.com';
  const res = await fetch(server.url, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': requested.join(',') } });
  expect(res.status).toBe(204);
  expect(res.headers.get('access-control-allow-origin')).toBe(origin);
  const allowed = res.headers.get('access-control-allow-headers')!.toLowerCase().split(',');
  expect(requested.filter((name) => !allowed.includes(name))).toEqual([]);
});

test('browsers may read the request id, Retry-After and the idempotency replay mark of a cross-origin response', async () => {
  const res = await fetch(server.url, { method: 'POST', headers: { origin: 'https://app.example.com', 'content-type': 'application/json' }, body: '{"query":"{ __typename }"}' });
  expect(res.headers.get('access-control-expose-headers')?.split(',')).toEqual(['x-request-id', 'retry-after', 'idempotent-replayed']);
});

test('graceful shutdown closes open WebSocket subscriptions and stops accepting', async () => {
  const other = await startTestServer();
  const t = await readyTenant(other, 'shutdown');
  const closes: number[] = [];
  const client = wsClient(other, { token: t.token }, { onClose: (code) => closes.push(code) });
  const sub = wsSubscribe(client, 'subscription { tenantStatusChanged { status } }');
  await sub.waitFor(1);
  await other.close();
  await sub.waitFor(2, 5000).catch(() => undefined);
  expect(closes).toContain(1001);
  await expect(fetch(other.url.replace(/\/graphql$/, '/healthz'))).rejects.toThrow();
  await client.dispose();
});
