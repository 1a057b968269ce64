/**
 * No request holds or waits for a connection for ever (issue 8, item 9): the API server's connections
 * carry statement, lock and idle-in-transaction timeouts and its pool an acquire timeout, each
 * answered as SERVICE_UNAVAILABLE (503, Retry-After) over both transports; the migrator and other CLI
 * tools open the database without them.
 */
import { loadConfig } from '../../src/config.js';
import { openDatabase } from '../../src/db/database.js';
import { databaseFailure } from '../../src/db/failures.js';
import { inTenant } from '../../src/filters/inTenant.js';
import { createCustomer, createProduct, readyTenant, type SignedUp } from '../support/fixtures.js';
import { appBackendsWaitingOnLocks, holdCounterLock, settledCount } from '../support/locks.js';
import { gql, startTestServer, TEST_ENV, type TestServer, wsClient, wsRequest } from '../support/server.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

const ORDER = 'mutation($i: OrderInput!) { createOrder(input: $i) { number } }';
const TIMED_OUT = { code: 'SERVICE_UNAVAILABLE', retryAfter: 1 };
const SETTINGS_SQL = `select current_setting('statement_timeout') as statement, current_setting('lock_timeout') as lock,
  current_setting('idle_in_transaction_session_timeout') as idle`;

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.close());

/** A server on the shared database with `env`, and a READY tenant with a product and a customer. */
async function serverWithTenant(env: Record<string, string>, slug: string) {
  const server = await startTestServer({ db, env });
  const tenant = await readyTenant(server, slug);
  const productId = await createProduct(server, { token: tenant.token }, 'P-1', 100);
  const input = { i: { customerId: await createCustomer(server, { token: tenant.token }, 'Ada'), lines: [{ productId, quantity: 1 }] } };
  return { server, tenant, input };
}

/** POST /graphql: status, Retry-After and the first error's extensions. */
async function post(server: TestServer, query: string, variables: Record<string, unknown>, token: string) {
  const response = await fetch(server.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { errors?: { extensions: unknown }[] };
  return { status: response.status, retryAfter: response.headers.get('retry-after'), extensions: body.errors?.[0]?.extensions };
}

test("the server's connections carry the configured timeouts; CLI tools' and workers' carry none", async () => {
  const config = loadConfig({ ...TEST_ENV, DATABASE_URL: db.ownerUrl, DB_STATEMENT_TIMEOUT_MS: '7000', DB_LOCK_TIMEOUT_MS: '3000', DB_IDLE_IN_TRANSACTION_TIMEOUT_MS: '20000' });
  const serving = await openDatabase(config, { migrate: false, serving: config.database }); // as startServer opens it
  const tool = await openDatabase(config, { migrate: false }); // as migrate-schemas, create-superadmin and the worker do
  try {
    expect(await serving.orm.em.fork().execute(SETTINGS_SQL)).toEqual([{ statement: '7s', lock: '3s', idle: '20s' }]);
    expect(await tool.orm.em.fork().execute(SETTINGS_SQL)).toEqual([{ statement: '0', lock: '0', idle: '0' }]);
  } finally {
    await serving.orm.close();
    await tool.orm.close();
  }
});

test('the defaults: statement 10 s, lock 5 s, idle in transaction 30 s, acquire 5 s, a third of a pool of 10 per tenant', () => {
  expect(loadConfig({}).database).toEqual({ poolSize: 10, acquireTimeoutMs: 5000, statementTimeoutMs: 10_000, lockTimeoutMs: 5000, idleInTransactionTimeoutMs: 30_000, tenantMaxConnections: 3 });
});

describe('a lock held past DB_LOCK_TIMEOUT_MS', () => {
  let s: Awaited<ReturnType<typeof serverWithTenant>>;
  beforeAll(async () => (s = await serverWithTenant({ DB_LOCK_TIMEOUT_MS: '300' }, 'lock-timeout')));
  afterAll(() => s.server.close());

  test('fails the order waiting on it with SERVICE_UNAVAILABLE 503, Retry-After, over HTTP and WebSocket, writing nothing', async () => {
    const lock = await holdCounterLock(db.owner, s.tenant.tenantId);
    const ws = wsClient(s.server, { token: s.tenant.token });
    try {
      expect(await post(s.server, ORDER, s.input, s.tenant.token)).toEqual({ status: 503, retryAfter: '1', extensions: TIMED_OUT });
      expect((await wsRequest(ws, ORDER, s.input)).errors?.[0].extensions).toEqual(TIMED_OUT);
    } finally {
      await lock.release();
      await ws.dispose();
    }
    expect((await db.owner.query(`select count(*)::int as n from "order" where tenant_id = $1`, [s.tenant.tenantId])).rows[0].n).toBe(0);
  });
});

describe('a statement running past DB_STATEMENT_TIMEOUT_MS', () => {
  let s: Awaited<ReturnType<typeof serverWithTenant>>;
  beforeAll(async () => (s = await serverWithTenant({ DB_STATEMENT_TIMEOUT_MS: '300', DB_LOCK_TIMEOUT_MS: '0' }, 'statement-timeout')));
  afterAll(() => s.server.close());

  test('is cancelled, and the request is SERVICE_UNAVAILABLE 503 with Retry-After over HTTP and WebSocket', async () => {
    const lock = await holdCounterLock(db.owner, s.tenant.tenantId); // the order's statement waits on it
    const ws = wsClient(s.server, { token: s.tenant.token });
    try {
      expect(await post(s.server, ORDER, s.input, s.tenant.token)).toEqual({ status: 503, retryAfter: '1', extensions: TIMED_OUT });
      expect((await wsRequest(ws, ORDER, s.input)).errors?.[0].extensions).toEqual(TIMED_OUT);
    } finally {
      await lock.release();
      await ws.dispose();
    }
  });
});

describe('a pool with no connection free for DB_ACQUIRE_TIMEOUT_MS', () => {
  let s: Awaited<ReturnType<typeof serverWithTenant>>;
  let other: SignedUp;
  beforeAll(async () => {
    s = await serverWithTenant({ DB_POOL_SIZE: '1', DB_ACQUIRE_TIMEOUT_MS: '300', DB_LOCK_TIMEOUT_MS: '0' }, 'acquire-timeout');
    other = await readyTenant(s.server, 'acquire-other');
  });
  afterAll(() => s.server.close());

  test('answers SERVICE_UNAVAILABLE 503 with Retry-After over HTTP and WebSocket, while identifying the caller', async () => {
    const lock = await holdCounterLock(db.owner, s.tenant.tenantId);
    const ws = wsClient(s.server, { token: other.token });
    try {
      // The pool's one connection waits on the lock inside this order's unit of work.
      const holding = post(s.server, ORDER, s.input, s.tenant.token);
      await settledCount(() => appBackendsWaitingOnLocks(db.owner), 1, 100);
      const query = '{ products(first: 1) { totalCount } }';
      expect(await post(s.server, query, {}, other.token)).toEqual({ status: 503, retryAfter: '1', extensions: TIMED_OUT });
      expect((await wsRequest(ws, query)).errors?.[0].extensions).toEqual(TIMED_OUT);
      await lock.release();
      expect((await holding).status).toBe(200);
    } finally {
      await lock.release().catch(() => undefined);
      await ws.dispose();
    }
  });
});

describe('a transaction left idle past DB_IDLE_IN_TRANSACTION_TIMEOUT_MS', () => {
  let s: Awaited<ReturnType<typeof serverWithTenant>>;
  beforeAll(async () => (s = await serverWithTenant({ DB_POOL_SIZE: '1', DB_IDLE_IN_TRANSACTION_TIMEOUT_MS: '200' }, 'idle-timeout')));
  afterAll(() => s.server.close());

  test('loses its connection, a database failure, and the pool gets its connection back', async () => {
    const failed = await inTenant(s.server.orm, s.tenant.tenantId, async (em) => {
      await em.execute('select 1');
      await new Promise((resolve) => setTimeout(resolve, 600));
      return em.execute('select 1');
    }).catch((err: unknown) => err);
    expect(databaseFailure(failed)).not.toBeNull();
    const r = await gql(s.server, '{ products(first: 1) { totalCount } }', {}, { token: s.tenant.token });
    expect(r.body.data.products.totalCount).toBe(1); // the pool of one serves again
  });
});
