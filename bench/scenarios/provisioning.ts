import { createClient, type Client } from 'graphql-ws';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import WebSocket from 'ws';
import { PasswordHasher } from '../../src/auth/passwords.js';
import { ensureSuperadmin } from '../../src/auth/superadmin.js';
import { loadConfig } from '../../src/config.js';
import { enableAppRoleLogin, migrate } from '../../src/db/database.js';
import { createOrm, type Orm } from '../../src/db/orm.js';
import { Tenant, TenantStatus } from '../../src/entities/Tenant.js';
import { inTenant } from '../../src/filters/inTenant.js';
import { prepareTenant, publishStatus } from '../../src/jobs/prepareTenant.js';
import { ProvisioningQueue } from '../../src/jobs/provisioningQueue.js';
import { LifecycleQueue } from '../../src/lifecycle/queue.js';
import { TENANT_EVENTS_CHANNEL as CHANNEL } from '../../src/jobs/sql.js';
import { createApp } from '../../src/server/app.js';
import { createLogger } from '../../src/server/logger.js';
import { ms, percentile, type BenchRow, type Scenario } from '../harness.js';

const SECRET = 'bench-secret-bench-secret-bench-secret';
const BASE_DOMAIN = 'bench.test';
const PASSWORD = 'bench password 0123';
const SIGN_UPS = Number(process.env.BENCH_SIGNUPS ?? 50);
const BURST = Number(process.env.BENCH_SIGNUP_BURST ?? 100);
const SUBSCRIBERS = Number(process.env.BENCH_SUBSCRIBERS ?? 1000);
const CHANGES = Number(process.env.BENCH_STATUS_CHANGES ?? 20);
const NOTIFIES = Number(process.env.BENCH_NOTIFIES ?? 200);

const SIGN_UP = `mutation($input: SignUpInput!) { signUp(input: $input) { accessToken tenant { id } } }`;
const WATCH = `subscription($t: ID) { tenantStatusChanged(tenantId: $t) { tenantId status } }`;

/**
 * Provisioning end to end on the real server (Apollo, graphql-ws, pg-boss worker in-process, LISTEN/
 * NOTIFY), each figure against a baseline measured in the same run:
 * - sign-up latency vs a plain insert of the tenant and its user in one transaction (and, for scale,
 *   the argon2id hash every sign-up pays);
 * - time to READY (sign-up request → READY event on a superadmin's all-tenants subscription) vs the
 *   same preparation steps called directly, no queue;
 * - a burst of concurrent sign-ups, all READY, vs the same preparations run directly 4 at a time;
 * - a status change's arrival at 1,000 graphql-ws subscribers vs a bare pg_notify → LISTEN round trip.
 */
export const provisioningScenario: Scenario = {
  name: 'provisioning',
  async run(bench) {
    const ownerUrl = await bench.createDatabase('bench_provisioning');
    await migrate(ownerUrl);
    const appUrl = await enableAppRoleLogin(ownerUrl, 'bench-app-password');
    const owner = new pg.Pool({ connectionString: ownerUrl, max: 4 });
    const log = createLogger('silent');
    const orm = await createOrm(appUrl, { pool: { min: 0, max: 20 } });
    const queue = await ProvisioningQueue.start(appUrl, orm, log, { baseDomain: BASE_DOMAIN });
    await queue.work();
    const config = loadConfig({
      NODE_ENV: 'production', LOG_LEVEL: 'silent', BASE_DOMAIN, JWT_SECRET: SECRET,
      // Every client is on 127.0.0.1: 1,000 subscriber sockets from one address, no rate limit.
      RATE_LIMIT_PER_MINUTE: '0', TENANT_RATE_LIMIT_PER_MINUTE: '0', WS_MAX_SOCKETS_PER_IP: '0',
    });
    const passwords = new PasswordHasher(config.passwordHashing);
    const lifecycle = await LifecycleQueue.start(queue.boss, orm, log, { baseDomain: BASE_DOMAIN, exports: config.exports });
    const app = await createApp({ config, orm, appUrl, jwtSecret: SECRET, log, provisioner: queue, lifecycle, passwords });
    const port = await app.listen(0, '127.0.0.1');
    const url = `http://127.0.0.1:${port}/graphql`;
    const wsUrl = `ws://127.0.0.1:${port}/graphql`;
    const clients: Client[] = [];
    const rows: BenchRow[] = [];
    try {
      await ensureSuperadmin(orm, passwords, 'root@bench.example.com', PASSWORD);
      const login = await post(url, `mutation { login(input: { email: "root@bench.example.com", password: "${PASSWORD}" }) { accessToken } }`);
      const rootToken = login.data.login.accessToken as string;

      // READY arrivals, as a dashboard would see them.
      const readyAt = new Map<string, number>();
      const readyWaiters = new Map<string, () => void>();
      const dashboard = client(wsUrl, rootToken, clients);
      dashboard.subscribe({ query: WATCH }, {
        next: (r) => {
          const e = (r.data as { tenantStatusChanged?: { tenantId: string; status: string } } | undefined)?.tenantStatusChanged;
          if (e?.status !== 'READY') return;
          readyAt.set(e.tenantId, performance.now());
          readyWaiters.get(e.tenantId)?.();
        },
        error: () => undefined,
        complete: () => undefined,
      });
      await waitLive(url, dashboard, readyAt);
      const ready = (id: string) =>
        readyAt.has(id) ? Promise.resolve() : withTimeout(new Promise<void>((resolve) => readyWaiters.set(id, resolve)), 30_000, `READY of ${id}`);

      // 1. One sign-up at a time, each waited for until READY.
      const signUpMs: number[] = [];
      const toReadyMs: number[] = [];
      for (let i = 0; i < SIGN_UPS; i++) {
        const t0 = performance.now();
        const r = await post(url, SIGN_UP, { input: { tenantName: `Seq ${i}`, slug: `seq-${i}`, email: `a@seq${i}.example.com`, password: PASSWORD } });
        signUpMs.push(performance.now() - t0);
        const id = r.data.signUp.tenant.id as string;
        await ready(id);
        toReadyMs.push(readyAt.get(id)! - t0);
      }
      const insertMs = await plainInserts(owner, SIGN_UPS);
      const hashMs: number[] = [];
      for (let i = 0; i < 10; i++) {
        const t = performance.now();
        await passwords.hash(PASSWORD);
        hashMs.push(performance.now() - t);
      }
      const directMs = await directPreparations(owner, orm, SIGN_UPS, 1);
      rows.push(
        {
          scenario: `provisioning: signUp latency (${SIGN_UPS}, one at a time)`,
          measured: pct(signUpMs),
          baseline: pct(insertMs),
          ratio: percentile(signUpMs, 50) / percentile(insertMs, 50),
          note: `baseline: insert tenant + user, one transaction; argon2id hash alone p50 ${ms(percentile(hashMs, 50))}`,
        },
        {
          scenario: 'provisioning: signUp → READY event',
          measured: pct(toReadyMs),
          baseline: pct(directMs.each),
          ratio: percentile(toReadyMs, 50) / percentile(directMs.each, 50),
          note: 'baseline: the same steps called directly (no queue, no notify)',
        },
      );

      // 2. A burst of concurrent sign-ups; the worker runs 4 jobs at a time.
      const burstStart = performance.now();
      const burstSignUpMs: number[] = [];
      const ids = await Promise.all(
        Array.from({ length: BURST }, async (_, i) => {
          const t0 = performance.now();
          const r = await post(url, SIGN_UP, { input: { tenantName: `Burst ${i}`, slug: `burst-${i}`, email: `a@burst${i}.example.com`, password: PASSWORD } });
          burstSignUpMs.push(performance.now() - t0);
          return r.data.signUp.tenant.id as string;
        }),
      );
      await Promise.all(ids.map(ready));
      const burstMs = performance.now() - burstStart;
      const directBurst = await directPreparations(owner, orm, BURST, 4);
      rows.push({
        scenario: `provisioning: ${BURST} concurrent sign-ups, all READY`,
        measured: `${(burstMs / 1000).toFixed(2)} s (signUp p50 ${ms(percentile(burstSignUpMs, 50))}, p99 ${ms(percentile(burstSignUpMs, 99))})`,
        baseline: `${(directBurst.totalMs / 1000).toFixed(2)} s`,
        ratio: burstMs / directBurst.totalMs,
        note: 'baseline: the same preparations called directly, 4 at a time (no sign-up, no queue)',
      });

      // 3. Fan-out: SUBSCRIBERS graphql-ws clients watching one tenant; CHANGES status changes.
      const watched = await post(url, SIGN_UP, { input: { tenantName: 'Watched', slug: 'watched', email: 'a@watched.example.com', password: PASSWORD } });
      const watchedId = watched.data.signUp.tenant.id as string;
      await ready(watchedId);
      const watchedToken = watched.data.signUp.accessToken as string;
      const single = await fanOutDelays(wsUrl, watchedToken, orm, watchedId, 1, CHANGES * 5);
      const fanOut = await fanOutDelays(wsUrl, watchedToken, orm, watchedId, SUBSCRIBERS, CHANGES);
      const notify = await notifyRoundTrips(appUrl);
      rows.push({
        scenario: 'provisioning: status change → 1 subscriber',
        measured: pct(single.delays),
        baseline: pct(notify),
        ratio: percentile(single.delays, 50) / percentile(notify, 50),
        note: `${CHANGES * 5} changes; the fixed path: LISTEN connection → bus → graphql-ws → client`,
      });
      rows.push({
        scenario: `provisioning: status change → ${SUBSCRIBERS} subscribers`,
        measured: `${pct(fanOut.delays)}; all ${SUBSCRIBERS} by p50 ${ms(percentile(fanOut.lastArrival, 50))}`,
        baseline: pct(notify),
        ratio: percentile(fanOut.delays, 50) / percentile(notify, 50),
        note: `${CHANGES} changes × ${SUBSCRIBERS} graphql-ws clients on one server; baseline: bare pg_notify → LISTEN, from commit`,
      });
    } finally {
      await Promise.all(clients.map((c) => c.dispose()));
      await app.close();
      await queue.stop();
      await orm.close();
      await owner.end();
    }
    return rows;
  },
};

const pct = (v: number[]) => `p50 ${ms(percentile(v, 50))}, p99 ${ms(percentile(v, 99))}`;

async function post(url: string, query: string, variables: Record<string, unknown> = {}): Promise<any> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
  const body = (await res.json()) as { data?: any; errors?: unknown[] };
  if (body.errors) throw new Error(`${query.slice(0, 40)}… failed: ${JSON.stringify(body.errors)}`);
  return body;
}

function client(wsUrl: string, token: string, all: Client[]): Client {
  const c = createClient({ url: wsUrl, webSocketImpl: WebSocket, lazy: false, retryAttempts: 0, connectionParams: { authorization: `Bearer ${token}` } });
  all.push(c);
  return c;
}

function withTimeout<T>(p: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([p, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs)))]).finally(() =>
    clearTimeout(timer),
  );
}

/** An all-tenants stream has no first event: a throwaway sign-up shows when it is live. */
async function waitLive(url: string, _dashboard: Client, readyAt: Map<string, number>): Promise<void> {
  const r = await post(url, SIGN_UP, { input: { tenantName: 'Probe', slug: 'probe', email: 'a@probe.example.com', password: PASSWORD } });
  const id = r.data.signUp.tenant.id as string;
  const deadline = Date.now() + 30_000;
  while (!readyAt.has(id)) {
    if (Date.now() > deadline) throw new Error('dashboard subscription never heard the probe tenant');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The baseline for a sign-up: tenant and user rows in one transaction, nothing else. */
async function plainInserts(owner: pg.Pool, n: number): Promise<number[]> {
  const c = await owner.connect();
  const out: number[] = [];
  try {
    for (let i = 0; i < n + 5; i++) {
      const t0 = performance.now();
      await c.query('begin');
      const { rows: [t] } = await c.query(`insert into tenant (id, name, slug, created_at) values (gen_random_uuid(), $1, $2, now()) returning id`, [`Plain ${i}`, `plain-${i}`]);
      await c.query(`insert into "user" (id, tenant_id, email, role, password_hash, created_at) values (gen_random_uuid(), $1, $2, 'ADMIN', 'x', now())`, [t.id, `a@plain${i}.example.com`]);
      await c.query('commit');
      if (i >= 5) out.push(performance.now() - t0);
    }
  } finally {
    c.release();
  }
  return out;
}

/** The baseline for preparation: PENDING tenants (plain rows) prepared by direct calls, `parallel` at a time. */
async function directPreparations(owner: pg.Pool, orm: Orm, n: number, parallel: number): Promise<{ each: number[]; totalMs: number }> {
  const { rows } = await owner.query(
    `insert into tenant (id, name, slug, created_at) select gen_random_uuid(), 'Direct', 'direct-' || substr(md5(random()::text), 1, 12), now() from generate_series(1, $1) returning id`,
    [n],
  );
  const ids = rows.map((r) => r.id as string);
  const each: number[] = [];
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < ids.length) {
        const id = ids[next++];
        const t0 = performance.now();
        await prepareTenant(orm, id, BASE_DOMAIN);
        each.push(performance.now() - t0);
      }
    }),
  );
  return { each, totalMs: performance.now() - started };
}

/** Arrival delays (ms from the change's commit) at every subscriber, and per change the last arrival. */
async function fanOutDelays(wsUrl: string, token: string, orm: Orm, tenantId: string, subscribers: number, changes: number): Promise<{ delays: number[]; lastArrival: number[] }> {
  const arrivals: number[][] = [];
  let current = -1;
  const subs: { seen: number }[] = [];
  const clients: Client[] = [];
  for (let batch = 0; batch < subscribers; batch += 100) {
    await Promise.all(
      Array.from({ length: Math.min(100, subscribers - batch) }, () =>
        new Promise<void>((resolve, reject) => {
          const sub = { seen: 0 };
          subs.push(sub);
          client(wsUrl, token, clients).subscribe({ query: WATCH }, {
            next: () => {
              sub.seen++;
              if (sub.seen === 1) return resolve(); // the first event: the current status
              arrivals[current]?.push(performance.now());
            },
            error: reject,
            complete: () => undefined,
          });
        }),
      ),
    );
  }
  const delays: number[] = [];
  const lastArrival: number[] = [];
  try {
    for (let i = 0; i < changes; i++) {
      current = i;
      arrivals[i] = [];
      const next = i % 2 === 0 ? TenantStatus.FAILED : TenantStatus.READY;
      let committedAt = 0;
      await inTenant(orm, tenantId, async (em) => {
        const t = await em.findOneOrFail(Tenant, tenantId);
        t.status = next;
        t.statusError = next === TenantStatus.FAILED ? 'bench' : null;
        await em.flush();
        await publishStatus(em, t);
        committedAt = performance.now(); // the commit is all that is left
      });
      await withTimeout(
        (async () => {
          while (arrivals[i].length < subscribers) await new Promise((r) => setTimeout(r, 1));
        })(),
        30_000,
        `change ${i} at all subscribers`,
      );
      delays.push(...arrivals[i].map((t) => t - committedAt));
      lastArrival.push(Math.max(...arrivals[i]) - committedAt);
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    await Promise.all(clients.map((c) => c.dispose()));
  }
  return { delays, lastArrival };
}

/** A bare pg_notify in a transaction, heard by a LISTEN connection: ms from just before commit. */
async function notifyRoundTrips(appUrl: string): Promise<number[]> {
  const listener = new pg.Client({ connectionString: appUrl });
  const sender = new pg.Client({ connectionString: appUrl });
  await listener.connect();
  await sender.connect();
  const channel = `${CHANNEL}_bench`;
  await listener.query(`listen ${channel}`);
  let arrived: (() => void) | undefined;
  listener.on('notification', () => arrived?.());
  const out: number[] = [];
  try {
    for (let i = 0; i < NOTIFIES + 20; i++) {
      const heard = new Promise<number>((resolve) => (arrived = () => resolve(performance.now())));
      await sender.query('begin');
      await sender.query('select pg_notify($1, $2)', [channel, JSON.stringify({ type: 'status', tenantId: '00000000-0000-0000-0000-000000000000', status: 'READY' })]);
      const t0 = performance.now();
      await sender.query('commit');
      const t1 = await heard;
      if (i >= 20) out.push(t1 - t0);
    }
  } finally {
    await listener.end();
    await sender.end();
  }
  return out;
}
