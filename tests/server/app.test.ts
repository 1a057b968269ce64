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
