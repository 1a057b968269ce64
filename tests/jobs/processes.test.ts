import type { Client } from 'graphql-ws';
import { signUp, superadminToken } from '../support/fixtures.js';
import { BASE_DOMAIN, gql, wsClient } from '../support/server.js';
import { eventually } from '../support/eventually.js';
import { type ChildApp, createPrivateTestDatabase, RETRY, spawnApp, watchStatus } from './helpers.js';

/**
 * Real processes, as deployed: `npm start` with RUN_WORKER=false serves the API, `npm run worker`
 * processes run the jobs; they share nothing but the database. In the first worker, test knobs
 * (NODE_ENV=test) make `fail-*` tenants fail their first two attempts, `slow-*` tenants pause
 * mid-preparation for a minute, `pause-*` for a second, and `last-*` tenants fail their first attempt and pause in their second (the last:
 * one retry is allowed).
 */
const KNOBS = {
  TENANTRY_TEST_RETRY_LIMIT: '1',
  TENANTRY_TEST_RETRY_DELAY_SECONDS: '1',
  TENANTRY_TEST_SUPERVISE_SECONDS: '1',
};

let db: Awaited<ReturnType<typeof createPrivateTestDatabase>>;
let api: ChildApp;
let worker: ChildApp | undefined;
let rootToken: string;
const children: ChildApp[] = [];
const clients: Client[] = [];

const client = (token: string) => {
  const c = wsClient(api, { token });
  clients.push(c);
  return c;
};
const spawn = async (kind: 'server' | 'worker', env: Record<string, string> = {}) => {
  const child = await spawnApp(kind, db, { ...KNOBS, ...env });
  children.push(child);
  return child;
};
const row = async (sql: string, params: unknown[]) => (await db.owner.query(sql, params)).rows[0];

beforeAll(async () => {
  db = await createPrivateTestDatabase();
  [api, worker] = await Promise.all([
    spawn('server', { RUN_WORKER: 'false' }),
    spawn('worker', { TENANTRY_TEST_FAIL_PREPARATION: 'fail-:2,last-:1', TENANTRY_TEST_SLOW_PREPARATION: 'slow-:60000,last-:60000,pause-:1000' }),
  ]);
  rootToken = await superadminToken({ url: api.url, orm: db.orm });
}, 30_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.dispose()));
  await Promise.all(children.map((c) => c.stop('SIGKILL')));
  await db?.destroy();
});

test('API and worker in separate processes: subscribers on the API process hear PENDING, PREPARING, READY live', async () => {
  const all = watchStatus(client(rootToken)); // subscribed before the sign-up: hears every change
  // An all-tenants stream has no first event: a probe tenant's sign-up shows when it is live.
  const probe = await signUp(api, 'probe');
  await all.until((e) => e.tenantId === probe.tenantId);
  const t = await signUp(api, 'pause-alpha');
  const watch = watchStatus(client(t.token));
  const events = await watch.until((e) => e.status === 'READY');
  // The tenant user's first event is the status at subscription time (the job may already have begun).
  expect(['PENDING,PREPARING,READY', 'PREPARING,READY']).toContain(events.map((e) => e.status).join());
  await all.until((e) => e.tenantId === t.tenantId && e.status === 'READY');
  expect(all.statuses(t.tenantId)).toEqual(['PENDING', 'PREPARING', 'READY']);
  await worker!.waitForLog(`"tenantId":"${t.tenantId}"`, 5_000); // the worker process ran the job…
  expect(api.output()).not.toContain('tenant prepared'); // …the API process ran none
});

test('an injected failure in the worker process ends FAILED with its reason; a superadmin retry ends READY', async () => {
  const t = await signUp(api, 'fail-bravo');
  const watch = watchStatus(client(t.token));
  const events = await watch.until((e) => e.status === 'FAILED');
  expect(events.at(-1)!.error).toBe('Preparation failed after 2 attempts: step test-injected-failure: injected failure for fail-bravo (attempt 2)');
  // The first step committed before the failure; the retry must not add a second domain.
  expect(await row('select count(*)::int as n from domain where tenant_id = $1', [t.tenantId])).toEqual({ n: 1 });

  const retried = await gql(api, RETRY, { id: t.tenantId }, { token: rootToken });
  expect(retried.body.data.retryTenantPreparation.status).toBe('PENDING');
  const after = await watch.until((e) => e.status === 'READY');
  expect(after.map((e) => e.status).slice(-4)).toEqual(['FAILED', 'PENDING', 'PREPARING', 'READY']);
  expect(await row(`select status::text, status_error from tenant where id = $1`, [t.tenantId])).toEqual({ status: 'READY', status_error: null });
});

test('a worker killed with SIGKILL mid-job: a restarted worker completes the tenant exactly once; a job killed on its last attempt ends FAILED', async () => {
  const t = await signUp(api, 'slow-charlie');
  const last = await signUp(api, 'last-echo');
  const watch = watchStatus(client(t.token));
  const watchLast = watchStatus(client(last.token));
  await watch.until((e) => e.status === 'PREPARING');
  // Mid-job: the domain step has committed, the worker is paused before the order counter.
  await eventually(async () => (await row('select count(*)::int as n from domain where tenant_id = $1', [t.tenantId])).n === 1, 10_000, 'domain step done');
  expect(await row('select count(*)::int as n from order_counter where tenant_id = $1', [t.tenantId])).toEqual({ n: 0 });
  // last-echo's first attempt failed; its second (last) attempt is running, paused.
  const jobState = `select state::text, retry_count from pgboss.job where name = 'tenant-prepare' and singleton_key = $1`;
  await eventually(async () => {
    const j = await row(jobState, [last.tenantId]);
    return j?.state === 'active' && j.retry_count === 1 && worker!.output().includes('injected failure for last-echo (attempt 1)');
  }, 10_000, 'last attempt running');
  await new Promise((r) => setTimeout(r, 300)); // let it reach the pause

  await worker!.stop('SIGKILL');
  worker = await spawn('worker'); // no knobs this time; pg-boss hands it the jobs once the dead one's heartbeat lapses

  const events = await watch.until((e) => e.status === 'READY', 30_000);
  // The first event is the status at subscription time: PENDING when the worker had not begun yet.
  expect(['PENDING,PREPARING,READY', 'PREPARING,READY']).toContain(events.map((e) => e.status).join());
  const counts = await row(
    `select (select count(*) from domain where tenant_id = $1)::int as domains,
            (select count(*) from order_counter where tenant_id = $1)::int as counters,
            (select count(*) from tenant where slug = 'slow-charlie')::int as tenants`,
    [t.tenantId],
  );
  expect(counts).toEqual({ domains: 1, counters: 1, tenants: 1 });
  // One job for the tenant, retried once (the killed attempt), then completed.
  const job = await eventually(async () => {
    const r = await row(jobState, [t.tenantId]);
    return r?.state === 'completed' && r;
  }, 5_000, 'job completed');
  expect(job).toEqual({ state: 'completed', retry_count: 1 });
  expect(await row(`select count(*)::int as n from pgboss.job where name = 'tenant-prepare' and singleton_key = $1`, [t.tenantId])).toEqual({ n: 1 });
  const domains = await gql(api, '{ currentTenant { status domains { hostname isPrimary } } }', {}, { token: t.token });
  expect(domains.body.data.currentTenant).toEqual({ status: 'READY', domains: [{ hostname: `slow-charlie.${BASE_DOMAIN}`, isPrimary: true }] });

  // The job killed on its last attempt is dead-lettered; the new worker marks the tenant FAILED.
  const lastEvents = await watchLast.until((e) => e.status === 'FAILED', 15_000);
  expect(lastEvents.at(-1)!.error).toBe('Preparation failed after 2 attempts: the worker stopped responding (crashed or was killed) on the last attempt');
  const retried = await gql(api, RETRY, { id: last.tenantId }, { token: rootToken });
  expect(retried.body.data.retryTenantPreparation.status).toBe('PENDING');
  await watchLast.until((e) => e.status === 'READY');
  expect(await row('select count(*)::int as n from domain where tenant_id = $1', [last.tenantId])).toEqual({ n: 1 });
}, 50_000);

test('`npm start` runs the worker in-process and, at start, picks up a tenant left PENDING without a job', async () => {
  await worker!.stop('SIGTERM');
  worker = undefined;
  const t = await signUp(api, 'delta');
  // Lose its job (a restore from an older backup, a hand-written row): nothing would ever run it.
  expect((await db.owner.query(`delete from pgboss.job where name = 'tenant-prepare' and singleton_key = $1`, [t.tenantId])).rowCount).toBe(1);
  const server = await spawn('server');
  await server.waitForLog('re-enqueued unfinished tenant preparation');
  const watch = watchStatus(client(t.token)); // on the API process: the events cross processes
  await watch.until((e) => e.status === 'READY');
  expect(await row(`select count(*)::int as n from pgboss.job where name = 'tenant-prepare' and singleton_key = $1`, [t.tenantId])).toEqual({ n: 1 });
});
