import { freePort } from '../../bench/harness.js';
import { MAX_OPERATION_LABELS } from '../../src/server/metrics.js';
import { gql, startTestServer, type TestServer } from '../support/server.js';

const servers: TestServer[] = [];
async function serve(env: Record<string, string> = {}): Promise<TestServer> {
  const server = await startTestServer({ env });
  servers.push(server);
  return server;
}
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

const origin = (server: TestServer) => server.url.replace(/\/graphql$/, '');

test(`client-chosen operation names get a series of their own up to ${MAX_OPERATION_LABELS}, then share "other"`, async () => {
  const server = await serve();
  const names = Array.from({ length: MAX_OPERATION_LABELS + 5 }, (_, i) => `Op${i}`);
  for (const name of names) await gql(server, `query ${name} { __typename }`);
  const text = await (await fetch(`${origin(server)}/metrics`)).text();
  const labels = new Set([...text.matchAll(/tenantry_graphql_operations_total\{operation="([^"]+)"/g)].map((m) => m[1]));
  expect(labels.size).toBe(MAX_OPERATION_LABELS + 1);
  expect(labels).toContain(`Op${MAX_OPERATION_LABELS - 1}`);
  expect(labels).not.toContain(`Op${MAX_OPERATION_LABELS}`);
  expect(text).toMatch(/tenantry_graphql_operations_total\{operation="other",type="query",outcome="ok",transport="http"\} 5/);
  // A name seen among the first keeps its own series.
  await gql(server, 'query Op0 { __typename }');
  expect(await (await fetch(`${origin(server)}/metrics`)).text()).toMatch(/operation="Op0",type="query",outcome="ok",transport="http"\} 2/);
});

test('with METRICS_TOKEN, /metrics answers only a bearer of that token (401 otherwise)', async () => {
  const server = await serve({ METRICS_TOKEN: 'scrape-me-0123456789' });
  const metrics = (authorization?: string) => fetch(`${origin(server)}/metrics`, { headers: authorization ? { authorization } : {} });
  expect((await metrics()).status).toBe(401);
  expect((await metrics('Bearer wrong-token')).status).toBe(401);
  expect((await metrics('Bearer scrape-me-0123456789x')).status).toBe(401);
  const ok = await metrics('Bearer scrape-me-0123456789');
  expect(ok.status).toBe(200);
  expect(await ok.text()).toContain('tenantry_graphql_operations_total');
});

test('with METRICS_PORT, /metrics is served on that port alone and not on the API port', async () => {
  const port = await freePort();
  const server = await serve({ METRICS_PORT: String(port) });
  expect((await fetch(`${origin(server)}/metrics`)).status).toBe(404);
  const ok = await fetch(`http://127.0.0.1:${port}/metrics`);
  expect(ok.status).toBe(200);
  expect(await ok.text()).toContain('tenantry_graphql_operations_total');
  expect((await fetch(`http://127.0.0.1:${port}/graphql`, { method: 'POST' })).status).toBe(404);
  expect((await gql(server, '{ __typename }')).status).toBe(200);
});
