/**
 * The database going away is an outage, not a bug (issue 8, item 9): clients get SERVICE_UNAVAILABLE,
 * HTTP 503 with Retry-After (over WebSocket: `extensions.retryAfter`), on every path, identifying the
 * caller included; never a 500. The server connects through a TCP proxy the test stops and starts,
 * so the outage is real (reset sockets, refused connections) without touching other test files.
 */
import { createCustomer, createProduct, PASSWORD, readyTenant, type SignedUp } from '../support/fixtures.js';
import { holdCounterLock, settledCount, appBackendsWaitingOnLocks } from '../support/locks.js';
import { gql, startTestServer, type TestServer, wsClient, wsRequest } from '../support/server.js';
import { startTcpProxy, type TcpProxy } from '../support/tcpProxy.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

let db: TestDatabase;
let proxy: TcpProxy;
let server: TestServer;
let t: SignedUp;
let input: { i: { customerId: string; lines: { productId: string; quantity: number }[] } };

const ORDER = 'mutation($i: OrderInput!) { createOrder(input: $i) { number } }';
const UNAVAILABLE = { code: 'SERVICE_UNAVAILABLE', retryAfter: 5 };

beforeAll(async () => {
  db = await createTestDatabase();
  const target = new URL(db.appUrl);
  proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port) });
  // Only the server's ORM goes through the proxy; the job queue and the event listener connect directly.
  // A pool of one connection: a connection that died mid-request and was not given back would leave the
  // server with none (the last test).
  server = await startTestServer({ db, orm: { clientUrl: proxy.via(db.appUrl) }, env: { DB_POOL_SIZE: '1', DB_ACQUIRE_TIMEOUT_MS: '2000', DB_LOCK_TIMEOUT_MS: '0' } });
  t = await readyTenant(server, 'outage');
  const productId = await createProduct(server, { token: t.token }, 'P-1', 100);
  input = { i: { customerId: await createCustomer(server, { token: t.token }, 'Ada'), lines: [{ productId, quantity: 1 }] } };
});
afterAll(async () => {
  await server.close();
  await proxy.close();
  await db.close();
});

/** POST /graphql: status, Retry-After and the first error's extensions. */
async function post(query: string, variables: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
  const response = await fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ query, variables }) });
  const body = (await response.json()) as { errors?: { extensions: unknown }[] };
  return { status: response.status, retryAfter: response.headers.get('retry-after'), extensions: body.errors?.[0]?.extensions };
}

/** Runs an order that waits on the held counter lock, does `cut` to its connection, and returns the order's outcome. */
async function orderCutWhileWaiting(cut: () => Promise<unknown>) {
  const lock = await holdCounterLock(db.owner, t.tenantId);
  try {
    const order = post(ORDER, input, { authorization: `Bearer ${t.token}` });
    await settledCount(() => appBackendsWaitingOnLocks(db.owner), 1, 100);
    await cut();
    return await order;
  } finally {
    await lock.release();
  }
}

test('a backend terminated mid-request (as by a Postgres shutdown, 57P01) is SERVICE_UNAVAILABLE 503 with Retry-After', async () => {
  const outcome = await orderCutWhileWaiting(() =>
    db.owner.query(`select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and usename = 'tenantry_app' and wait_event_type = 'Lock'`),
  );
  expect(outcome).toEqual({ status: 503, retryAfter: '5', extensions: UNAVAILABLE });
  expect((await db.owner.query(`select count(*)::int as n from "order" where tenant_id = $1`, [t.tenantId])).rows[0].n).toBe(0);
});

test('a connection cut mid-request is SERVICE_UNAVAILABLE 503 with Retry-After', async () => {
  try {
    expect(await orderCutWhileWaiting(() => proxy.stop())).toEqual({ status: 503, retryAfter: '5', extensions: UNAVAILABLE });
  } finally {
    await proxy.start();
  }
});

describe('while the database is unreachable', () => {
  beforeAll(() => proxy.stop());
  afterAll(() => proxy.start());

  test.each([
    ['a tenant query (the tenant is read as its unit of work opens)', '{ products(first: 1) { totalCount } }', () => ({ authorization: `Bearer ${t.token}` })],
    ['login (a session field, outside the unit of work)', `mutation { login(input: {email: "admin@outage.example.com", password: "${PASSWORD}", tenant: "outage"}) { accessToken } }`, () => ({})],
    ['an anonymous query naming a tenant by header', '{ currentTenant { id } }', () => ({ 'x-tenant-id': 'outage' })],
  ])('%s is SERVICE_UNAVAILABLE 503 with Retry-After over HTTP', async (_what, query, headers) => {
    expect(await post(query, {}, headers())).toEqual({ status: 503, retryAfter: '5', extensions: UNAVAILABLE });
  });

  test('an operation over WebSocket is SERVICE_UNAVAILABLE with retryAfter', async () => {
    const client = wsClient(server, { token: t.token });
    try {
      const result = await wsRequest(client, '{ products(first: 1) { totalCount } }');
      expect(result.errors).toEqual([{ message: 'The database is unavailable; retry later', extensions: UNAVAILABLE }]);
    } finally {
      await client.dispose();
    }
  });

  test('/readyz is 503 and /healthz still 200', async () => {
    const base = server.url.replace(/\/graphql$/, '');
    expect((await fetch(`${base}/readyz`)).status).toBe(503);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });
});

test('once the database is back, the same server answers again: no connection that died mid-request was kept', async () => {
  const r = await gql(server, '{ products(first: 1) { totalCount } }', {}, { token: t.token });
  expect(r.status).toBe(200);
  expect(r.body.data.products.totalCount).toBe(1);
});
