import { PREPARATION_STEPS } from '../../src/jobs/prepareTenant.js';
import { ProvisioningQueue } from '../../src/jobs/provisioningQueue.js';
import { failingStep } from '../support/testKnobs.js';
import { createLogger } from '../../src/server/logger.js';
import { readyTenant, signUp, superadminToken } from '../support/fixtures.js';
import { BASE_DOMAIN, codeOf, gql, startTestServer, type TestServer, wsClient } from '../support/server.js';
import { eventually } from '../support/eventually.js';
import { RETRY, SET_ACTIVE, watchStatus } from './helpers.js';
import type { Client } from 'graphql-ws';
import jwt from 'jsonwebtoken';
import type { EntityManager } from '@mikro-orm/postgresql';
import { JWT_SECRET } from '../support/server.js';

/**
 * The provisioning flow in one process, API and worker as separate pg-boss instances on one database:
 * the API server enqueues but does not work; the worker is started when a test wants it.
 */
let server: TestServer;
let worker: ProvisioningQueue | undefined;
let rootToken: string;
const clients: Client[] = [];
const failing = failingStep('fail-', 2); // the first two attempts of `fail-*` tenants fail
const provisioning = { retryLimit: 1, retryDelaySeconds: 1, superviseIntervalSeconds: 1, steps: [PREPARATION_STEPS[0], failing, ...PREPARATION_STEPS.slice(1)] };

const client = (token: string) => {
  const c = wsClient(server, { token });
  clients.push(c);
  return c;
};

beforeAll(async () => {
  server = await startTestServer({ worker: false, provisioning });
  rootToken = await superadminToken(server);
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.dispose()));
  await worker?.stop();
  await server?.close();
});

async function startWorker(): Promise<void> {
  worker = await ProvisioningQueue.start(server.db.appUrl, server.orm, createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'), { baseDomain: BASE_DOMAIN, ...provisioning });
  await worker.work();
}

test('first event is the current status (PENDING), then PREPARING and READY in order', async () => {
  const a = await signUp(server, 'alpha');
  const watch = watchStatus(client(a.token));
  await watch.until((e) => e.status === 'PENDING');
  await startWorker();
  const events = await watch.until((e) => e.status === 'READY');
  expect(events.map((e) => e.status)).toEqual(['PENDING', 'PREPARING', 'READY']);
  expect(events.every((e) => e.tenantId === a.tenantId && e.error === null)).toBe(true);
  const times = events.map((e) => Date.parse(e.at));
  expect(times).toEqual([...times].sort((x, y) => x - y));
  const t = await gql(server, '{ currentTenant { status preparationStartedAt preparationCompletedAt domains { hostname isPrimary } } }', {}, { token: a.token });
  expect(t.body.data.currentTenant).toMatchObject({ status: 'READY', domains: [{ hostname: `alpha.${BASE_DOMAIN}`, isPrimary: true }] });
  expect(Date.parse(t.body.data.currentTenant.preparationCompletedAt)).toBeGreaterThanOrEqual(Date.parse(t.body.data.currentTenant.preparationStartedAt));
});

test('a client subscribing after READY learns READY at once', async () => {
  const b = await readyTenant(server, 'bravo');
  const watch = watchStatus(client(b.token));
  const events = await watch.until((e) => e.status === 'READY', 5_000);
  expect(events).toEqual([expect.objectContaining({ tenantId: b.tenantId, status: 'READY', error: null })]);
  // Also with its own id spelled out, in upper case.
  const again = watchStatus(client(b.token), b.tenantId.toUpperCase());
  expect(await again.until((e) => e.status === 'READY', 5_000)).toHaveLength(1);
});

test("tenant A's subscriber never hears B; the superadmin's all-tenants stream hears both", async () => {
  const before = server.app.events.listenerCount;
  const all = watchStatus(client(rootToken));
  await eventually(async () => server.app.events.listenerCount > before, 5_000, 'all-tenants subscription registered');
  const a = await signUp(server, 'charlie');
  const watchA = watchStatus(client(a.token));
  const b = await signUp(server, 'delta');
  await watchA.until((e) => e.status === 'READY');
  await all.until((e) => e.tenantId === a.tenantId && e.status === 'READY');
  await all.until((e) => e.tenantId === b.tenantId && e.status === 'READY');
  expect(watchA.events().every((e) => e.tenantId === a.tenantId)).toBe(true);
  // No first event on the all-tenants stream; each tenant's changes in order, sign-up's PENDING included.
  expect(all.statuses(a.tenantId)).toEqual(['PENDING', 'PREPARING', 'READY']);
  expect(all.statuses(b.tenantId)).toEqual(['PENDING', 'PREPARING', 'READY']);
  // The superadmin may also watch one tenant: its current status first.
  const one = watchStatus(client(rootToken), b.tenantId);
  expect(await one.until((e) => e.status === 'READY', 5_000)).toEqual([expect.objectContaining({ tenantId: b.tenantId, status: 'READY' })]);
});

test('subscribing to another tenant: TENANT_MISMATCH as the result; unknown tenant for a superadmin: NOT_FOUND', async () => {
  const a = await readyTenant(server, 'echo');
  const b = await readyTenant(server, 'foxtrot');
  const mismatch = watchStatus(client(a.token), b.tenantId);
  await mismatch.sub.waitFor(1, 5_000);
  expect(mismatch.sub.results[0].errors?.[0].extensions?.code).toBe('TENANT_MISMATCH');
  expect(mismatch.events()).toEqual([]);
  const unknown = watchStatus(client(rootToken), '00000000-0000-4000-8000-000000000000');
  await unknown.sub.waitFor(1, 5_000);
  expect(unknown.sub.results[0].errors?.[0].extensions?.code).toBe('NOT_FOUND');
  const anonymous = watchStatus(wsClientTracked(), a.tenantId);
  await anonymous.sub.waitFor(1, 5_000);
  expect(anonymous.sub.results[0].errors?.[0].extensions?.code).toBe('UNAUTHENTICATED');
});

function wsClientTracked(): Client {
  const c = wsClient(server);
  clients.push(c);
  return c;
}

test('an injected failure ends FAILED with its reason after the last attempt; retryTenantPreparation ends READY', async () => {
  const t = await signUp(server, 'fail-golf');
  const watch = watchStatus(client(t.token));
  const failed = await watch.until((e) => e.status === 'FAILED');
  expect(failed.map((e) => e.status)).toEqual(expect.arrayContaining(['PREPARING', 'FAILED']));
  const error = failed.find((e) => e.status === 'FAILED')!.error!;
  expect(error).toMatch(/^Preparation failed after 2 attempts: step test-injected-failure: injected failure for fail-golf \(attempt 2\)$/);
  const status = await gql(server, '{ currentTenant { status statusError } }', {}, { token: t.token });
  expect(status.body.data.currentTenant).toEqual({ status: 'FAILED', statusError: error });
  expect(failing.attemptsBySlug.get('fail-golf')).toBe(2);

  // Tenant users may not retry; superadmins may, once.
  const denied = await gql(server, RETRY, { id: t.tenantId }, { token: t.token });
  expect(codeOf(denied)).toBe('FORBIDDEN');
  const retried = await gql(server, RETRY, { id: t.tenantId }, { token: rootToken });
  expect(retried.body.data.retryTenantPreparation).toEqual({ id: t.tenantId, status: 'PENDING', statusError: null });
  const events = await watch.until((e) => e.status === 'READY');
  expect(events.slice(events.findIndex((e) => e.status === 'FAILED')).map((e) => e.status)).toEqual(['FAILED', 'PENDING', 'PREPARING', 'READY']);

  // Only from FAILED: READY → CONFLICT.
  const again = await gql(server, RETRY, { id: t.tenantId }, { token: rootToken });
  expect(codeOf(again)).toBe('CONFLICT');
  const audit = await server.db.owner.query(`select count(*)::int as n from audit_event where action = 'tenant.retryPreparation' and tenant_id = $1`, [t.tenantId]);
  expect(audit.rows[0].n).toBe(1);
  const rows = await server.db.owner.query(
    `select (select count(*) from domain where tenant_id = $1)::int as domains, (select count(*) from order_counter where tenant_id = $1)::int as counters`,
    [t.tenantId],
  );
  expect(rows.rows[0]).toEqual({ domains: 1, counters: 1 });
});

test('retryTenantPreparation from PENDING or PREPARING is a CONFLICT too', async () => {
  await worker!.stop();
  worker = undefined;
  const t = await signUp(server, 'hotel');
  const r = await gql(server, RETRY, { id: t.tenantId }, { token: rootToken });
  expect(codeOf(r)).toBe('CONFLICT');
  expect(r.body.errors![0].message).toMatch(/PENDING/);
  await startWorker();
  const watch = watchStatus(client(t.token));
  await watch.until((e) => e.status === 'READY');
});

test("deactivating a tenant ends its users' status subscriptions, not the superadmin's", async () => {
  const t = await readyTenant(server, 'india');
  const user = watchStatus(client(t.token));
  const admin = watchStatus(client(rootToken), t.tenantId);
  await user.until((e) => e.status === 'READY', 5_000);
  await admin.until((e) => e.status === 'READY', 5_000);
  const off = await gql(server, SET_ACTIVE, { id: t.tenantId, active: false }, { token: rootToken });
  expect(off.body.data.setTenantActive.isActive).toBe(false);
  await eventually(async () => user.sub.completed, 5_000, 'tenant user subscription completed');
  expect(admin.sub.completed).toBe(false);
  await gql(server, SET_ACTIVE, { id: t.tenantId, active: true }, { token: rootToken });
});

test('after the LISTEN connection is killed, subscribers resync (a change they missed arrives) and keep hearing live events', async () => {
  const before = server.app.events.listenerCount;
  const all = watchStatus(client(rootToken));
  await eventually(async () => server.app.events.listenerCount > before, 5_000, 'all-tenants subscription registered');
  const t = await readyTenant(server, 'juliet');
  const watch = watchStatus(client(t.token));
  await watch.until((e) => e.status === 'READY', 5_000);
  await all.until((e) => e.tenantId === t.tenantId && e.status === 'READY', 5_000);

  // A change whose NOTIFY nobody hears (written by hand, no pg_notify), then the listening connection dies.
  await server.db.owner.query(`update tenant set status = 'FAILED', status_error = 'set by hand' where id = $1`, [t.tenantId]);
  const pid = server.app.events.backendPid!;
  const killed = await server.db.owner.query('select pg_terminate_backend($1) as ok', [pid]);
  expect(killed.rows[0].ok).toBe(true);

  const resynced = await watch.until((e) => e.status === 'FAILED', 10_000);
  expect(resynced.map((e) => [e.status, e.error])).toEqual([
    ['READY', null],
    ['FAILED', 'set by hand'],
  ]);
  await all.until((e) => e.tenantId === t.tenantId && e.status === 'FAILED', 10_000);
  expect(all.statuses(t.tenantId)).toEqual(['PENDING', 'PREPARING', 'READY', 'FAILED']);
  // A resync is at-least-once: it may also repeat the (true, current) status of tenants created
  // within a minute before the stream started, which it cannot tell from ones it missed.
  expect(all.events().filter((e) => e.tenantId !== t.tenantId).every((e) => e.status === 'READY')).toBe(true);
  expect(server.app.events.connected).toBe(true);
  expect(server.app.events.backendPid).not.toBe(pid);

  // Live events flow on the new connection.
  const retried = await gql(server, RETRY, { id: t.tenantId }, { token: rootToken });
  expect(retried.body.errors).toBeUndefined();
  const events = await watch.until((e) => e.status === 'READY' && watch.events().indexOf(e) > 1);
  expect(events.map((e) => e.status)).toEqual(['READY', 'FAILED', 'PENDING', 'PREPARING', 'READY']);
  await all.until((e) => e.tenantId === t.tenantId && e.status === 'READY' && all.events().indexOf(e) > 3);
  expect(all.statuses(t.tenantId)).toEqual(['PENDING', 'PREPARING', 'READY', 'FAILED', 'PENDING', 'PREPARING', 'READY']);

});

test('recover() re-enqueues a tenant left PENDING without a job, and is a no-op for one whose job is live', async () => {
  await worker!.stop();
  worker = undefined;
  const lost = await signUp(server, 'kilo');
  const queued = await signUp(server, 'lima');
  // Lose kilo's job, as a restore from an older backup or a hand-written row would.
  const deleted = await server.db.owner.query(`delete from pgboss.job where name = 'tenant-prepare' and singleton_key = $1`, [lost.tenantId]);
  expect(deleted.rowCount).toBe(1);
  expect(await server.queue.recover()).toBe(1);
  await startWorker();
  const kilo = watchStatus(client(lost.token));
  const lima = watchStatus(client(queued.token));
  await kilo.until((e) => e.status === 'READY');
  await lima.until((e) => e.status === 'READY');
  // One job per tenant, completed (pg-boss settles it just after the handler's READY commit).
  const jobs = await eventually(async () => {
    const r = await server.db.owner.query(
      `select singleton_key, array_agg(state::text) as states from pgboss.job where name = 'tenant-prepare' and singleton_key = any($1) group by 1`,
      [[lost.tenantId, queued.tenantId]],
    );
    return r.rows.every((row) => row.states.join() === 'completed') && r.rows;
  }, 5_000, 'jobs completed');
  expect(jobs).toHaveLength(2);
});

test('recover() leaves alone a tenant the schema migrator is still filling', async () => {
  const { rows: [tenant] } = await server.db.owner.query(
    `insert into tenant (id, name, slug, status, created_at) values (gen_random_uuid(), 'Migrating', 'migrating-x', 'PREPARING', now()) returning id`,
  );
  await server.db.owner.query(`insert into migration_checkpoint (tenant_id, table_name, source_schema) values ($1, 'product', 'tenant_x')`, [tenant.id]);
  expect(await server.queue.recover()).toBe(0);
  const { rows } = await server.db.owner.query(`select count(*)::int n from pgboss.job where singleton_key = $1`, [tenant.id]);
  expect(rows[0].n).toBe(0);
  // Without its checkpoints the same tenant is an orphaned preparation and is picked up.
  await server.db.owner.query(`delete from migration_checkpoint where tenant_id = $1`, [tenant.id]);
  expect(await server.queue.recover()).toBe(1);
});

test('enqueueing joins the caller transaction: rolled back with it, no job is left', async () => {
  const tenantId = '11111111-1111-4111-8111-111111111111';
  await expect(
    server.orm.em.fork().transactional(async (tx) => {
      expect(await server.queue.enqueue(tx as EntityManager, tenantId)).toBe(true);
      throw new Error('the sign-up failed after enqueueing');
    }),
  ).rejects.toThrow('the sign-up failed');
  const jobs = await server.db.owner.query(`select count(*)::int as n from pgboss.job where singleton_key = $1`, [tenantId]);
  expect(jobs.rows[0].n).toBe(0);
});

test("an open status subscription is closed (4403 TOKEN_EXPIRED, which graphql-ws clients retry) when the connection's token expires", async () => {
  const t = await readyTenant(server, 'mike');
  const claims = jwt.decode(t.token) as { sub: string; role: string; tenantId: string };
  const shortLived = jwt.sign({ role: claims.role, tenantId: claims.tenantId }, JWT_SECRET, { algorithm: 'HS256', subject: claims.sub, expiresIn: 2, jwtid: 'short' });
  let closed: [number, string] | undefined;
  const c = wsClient(server, { token: shortLived }, { onClose: (code, reason) => (closed = [code, reason]) });
  clients.push(c);
  const watch = watchStatus(c);
  await watch.until((e) => e.status === 'READY', 5_000);
  await eventually(async () => closed, 5_000, 'socket closed');
  expect(closed).toEqual([4403, 'TOKEN_EXPIRED']);
});

test('a queue created without the dead-letter queue (older code) gets it at the next start', async () => {
  await server.db.owner.query(`update pgboss.queue set dead_letter = null where name = 'tenant-prepare'`);
  const again = await ProvisioningQueue.start(server.db.appUrl, server.orm, createLogger('silent'), { baseDomain: BASE_DOMAIN });
  await again.stop();
  const { rows } = await server.db.owner.query(`select dead_letter from pgboss.queue where name = 'tenant-prepare'`);
  expect(rows[0].dead_letter).toBe('tenant-prepare-failed');
});
