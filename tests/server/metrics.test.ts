import type pg from 'pg';
import { freePort } from '../../bench/harness.js';
import { PREPARATION_STEPS } from '../../src/jobs/prepareTenant.js';
import { PREPARE_FAILED_QUEUE, PREPARE_QUEUE } from '../../src/jobs/provisioningQueue.js';
import { ERASE_QUEUE, EXPORT_EXPIRE_QUEUE, EXPORT_FAILED_QUEUE, EXPORT_QUEUE } from '../../src/lifecycle/queue.js';
import { MAX_OPERATION_LABELS } from '../../src/server/metrics.js';
import { watchStatus } from '../jobs/helpers.js';
import { eventually } from '../support/eventually.js';
import { createCustomer, createProduct, readyTenant, signUp, superadminToken } from '../support/fixtures.js';
import { holdCounterLock } from '../support/locks.js';
import { gql, metricValue, startTestServer, type TestServer, type TestServerOptions, wsClient, wsRequest, wsSubscribe } from '../support/server.js';
import { failingStep } from '../support/testKnobs.js';

const servers: TestServer[] = [];
async function serve(env: Record<string, string> = {}, options: Omit<TestServerOptions, 'env'> = {}): Promise<TestServer> {
  const server = await startTestServer({ env, ...options });
  servers.push(server);
  return server;
}
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

const origin = (server: TestServer) => server.url.replace(/\/graphql$/, '');


/** Polls a series until it has `value` (state that settles a moment after the client's action). */
async function until(server: TestServer, series: string, value: number): Promise<void> {
  await eventually(async () => (await metricValue(server, series)) === value, 10_000, `${series} = ${value} (last ${await metricValue(server, series)})`);
}

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

describe('operations gauges and counters', () => {
  test('the database pool: connections in use and idle, and requests waiting for one', async () => {
    const server = await serve({ DB_POOL_SIZE: '2' }, { worker: false });
    const pool: pg.Pool = await server.orm.em.getConnection().getNativeClient();
    const held = [await pool.connect(), await pool.connect()];
    const third = pool.connect();
    expect(await metricValue(server, 'tenantry_db_pool_connections{state="in_use"}')).toBe(2);
    expect(await metricValue(server, 'tenantry_db_pool_connections{state="idle"}')).toBe(0);
    expect(await metricValue(server, 'tenantry_db_pool_waiting_requests')).toBe(1);
    held[0].release();
    (await third).release();
    held[1].release();
    expect(await metricValue(server, 'tenantry_db_pool_connections{state="in_use"}')).toBe(0);
    expect(await metricValue(server, 'tenantry_db_pool_connections{state="idle"}')).toBe(2);
    expect(await metricValue(server, 'tenantry_db_pool_waiting_requests')).toBe(0);
  });

  test('the connection gate: units of work running, and waiting for their turn', async () => {
    // A pool of 2: the gate admits one unit of work at a time.
    const server = await serve({ DB_POOL_SIZE: '2' });
    const shop = await readyTenant(server, 'gated');
    const opts = { token: shop.token };
    const order = { i: { customerId: await createCustomer(server, opts, 'Ada'), lines: [{ productId: await createProduct(server, opts, 'P-1'), quantity: 1 }] } };
    const lock = await holdCounterLock(server.db.owner, shop.tenantId);
    try {
      const orders = [1, 2].map(() => gql(server, `mutation($i: OrderInput!) { createOrder(input: $i) { id } }`, order, opts));
      await until(server, 'tenantry_connection_gate_operations{state="waiting"}', 1);
      expect(await metricValue(server, 'tenantry_connection_gate_operations{state="running"}')).toBe(1);
      await lock.release();
      expect((await Promise.all(orders)).map((r) => r.status)).toEqual([200, 200]);
    } finally {
      await lock.release().catch(() => undefined);
    }
    expect(await metricValue(server, 'tenantry_connection_gate_operations{state="running"}')).toBe(0);
    expect(await metricValue(server, 'tenantry_connection_gate_operations{state="waiting"}')).toBe(0);
  });

  test('WebSockets open and their live subscriptions', async () => {
    const server = await serve({}, { worker: false });
    const shop = await signUp(server, 'sockets');
    expect(await metricValue(server, 'tenantry_ws_sockets')).toBe(0);
    const [watching, asking] = [wsClient(server, { token: shop.token }), wsClient(server, { token: shop.token })];
    try {
      const status = watchStatus(watching);
      await status.until((e) => e.status === 'PENDING');
      await wsRequest(asking, '{ currentTenant { id } }');
      expect(await metricValue(server, 'tenantry_ws_sockets')).toBe(2);
      expect(await metricValue(server, 'tenantry_ws_subscriptions')).toBe(1);
      const second = wsSubscribe(asking, `subscription { tenantStatusChanged { status } }`);
      await second.waitFor(1);
      expect(await metricValue(server, 'tenantry_ws_subscriptions')).toBe(2);
      status.sub.unsubscribe();
      await until(server, 'tenantry_ws_subscriptions', 1);
    } finally {
      await Promise.all([watching.dispose(), asking.dispose()]);
    }
    await until(server, 'tenantry_ws_sockets', 0);
    expect(await metricValue(server, 'tenantry_ws_subscriptions')).toBe(0);
  });

  test('the provisioning queues: jobs ready, deferred and active, as the queue monitor counts them', async () => {
    const server = await serve({}, { worker: false, provisioning: { superviseIntervalSeconds: 1 } });
    await signUp(server, 'queued-1');
    await signUp(server, 'queued-2');
    await until(server, `tenantry_provisioning_queue_jobs{queue="${PREPARE_QUEUE}",state="ready"}`, 2);
    expect(await metricValue(server, `tenantry_provisioning_queue_jobs{queue="${PREPARE_QUEUE}",state="active"}`)).toBe(0);
    expect(await metricValue(server, `tenantry_provisioning_queue_jobs{queue="${PREPARE_FAILED_QUEUE}",state="ready"}`)).toBe(0);
  });

  test('the lifecycle queues: an export waiting, its archive expiry deferred, an erase waiting', async () => {
    const server = await serve({}, { worker: false, provisioning: { superviseIntervalSeconds: 1 } });
    const root = await superadminToken(server);
    const exported = await signUp(server, 'exported-1');
    const erased = await signUp(server, 'erased-1');
    const exporting = await gql(server, 'mutation($id: ID!) { exportTenant(id: $id) { id } }', { id: exported.tenantId }, { token: root });
    expect(exporting.body.errors).toBeUndefined();
    const erasing = await gql(server, 'mutation($id: ID!, $slug: String!) { deleteTenant(id: $id, confirmSlug: $slug) { status } }', { id: erased.tenantId, slug: erased.slug }, { token: root });
    expect(erasing.body.errors).toBeUndefined();
    await until(server, `tenantry_lifecycle_queue_jobs{queue="${EXPORT_QUEUE}",state="ready"}`, 1);
    expect(await metricValue(server, `tenantry_lifecycle_queue_jobs{queue="${EXPORT_EXPIRE_QUEUE}",state="deferred"}`)).toBe(1);
    expect(await metricValue(server, `tenantry_lifecycle_queue_jobs{queue="${ERASE_QUEUE}",state="ready"}`)).toBe(1);
    expect(await metricValue(server, `tenantry_lifecycle_queue_jobs{queue="${EXPORT_FAILED_QUEUE}",state="ready"}`)).toBe(0);
  });

  test('provisioning jobs by outcome: completed, retried, failed', async () => {
    // `flaky-*` fails its first attempt and succeeds on the retry; `doomed-*` fails both attempts.
    const steps = [PREPARATION_STEPS[0], failingStep('flaky-', 1), failingStep('doomed-'), ...PREPARATION_STEPS.slice(1)];
    const server = await serve({}, { provisioning: { retryLimit: 1, retryDelaySeconds: 1, superviseIntervalSeconds: 1, steps } });
    const outcome = (name: string) => metricValue(server, `tenantry_provisioning_jobs_total{outcome="${name}"}`);
    expect([await outcome('completed'), await outcome('retried'), await outcome('failed')]).toEqual([0, 0, 0]);
    const tenants = [await signUp(server, 'steady-1'), await signUp(server, 'flaky-1'), await signUp(server, 'doomed-1')];
    const statuses = await Promise.all(
      tenants.map(async (t) => {
        const watch = watchStatus(wsClient(server, { token: t.token }));
        try {
          return (await watch.until((e) => e.status === 'READY' || e.status === 'FAILED')).at(-1)!.status;
        } finally {
          watch.sub.unsubscribe();
        }
      }),
    );
    expect(statuses).toEqual(['READY', 'READY', 'FAILED']);
    await until(server, 'tenantry_provisioning_jobs_total{outcome="failed"}', 1);
    expect([await outcome('completed'), await outcome('retried')]).toEqual([2, 2]);
  });
});
