import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { signAccessToken } from '../../src/auth/accessToken.js';
import { enableAppRoleLogin, migrate } from '../../src/db/database.js';
import { loadConfig } from '../../src/config.js';
import { Role } from '../../src/entities/User.js';
import { cpuMsBetween, processCpuMs, processTreeCpuMs } from '../cpu.js';
import { median, ms, percentile, type BenchRow, type Scenario } from '../harness.js';
import { buildProduction, ROOT, type ServerProcess, startServerProcess } from '../production.js';
const SECRET = 'bench-secret-bench-secret-bench-secret';
const CONCURRENCY = Number(process.env.BENCH_API_CONCURRENCY ?? 16);
const DURATION_MS = Number(process.env.BENCH_API_MS ?? 10_000);
/** Timed runs per operation and side, interleaved (Tenantry, baseline, Tenantry, …); medians are reported. */
const RUNS = Number(process.env.BENCH_API_RUNS ?? 3);
/** Tenants seeded; requests go to each in turn. */
const TENANTS = Number(process.env.BENCH_API_TENANTS ?? 1000);
/** Requests per side in the rate limit row (0: no such row). */
const RATE_SAMPLES = Number(process.env.BENCH_API_RATE_SAMPLES ?? 1000);
/** A directory: Tenantry's child runs with `--cpu-prof` and writes its profile there when stopped. */
const PROFILE_DIR = process.env.BENCH_API_PROF;
/**
 * A commit (or any git revision): Tenantry as built from it runs as a third child, interleaved with the
 * other two, and each operation gets a row "this tree vs <revision>": a lever's before and after under
 * the same load from elsewhere on the machine.
 */
const BEFORE = process.env.BENCH_API_BEFORE;

/** Per tenant: 200 products, 100 customers, 300 orders of 3 lines (1,000 tenants: 200k, 100k, 300k, 900k rows). */
const SIZE = { products: 200, customers: 100, orders: 300, linesPerOrder: 3 } as const;

const OPERATIONS = [
  { name: '50 products by sku', query: '{ products(first: 50) { edges { node { id sku name priceCents } } } }' },
  { name: '20 orders + customer + lines + product', query: '{ orders(first: 20) { edges { node { number totalCents customer { name } lines { quantity unitPriceCents product { name } } } } } }' },
  { name: 'one order by id + lines', query: 'query($id: ID!) { order(id: $id) { number totalCents status lines { quantity unitPriceCents } } }' },
] as const;

/** What one request needs to name its tenant and check its answer. */
interface TenantRequest {
  readonly token: string;
  readonly orderId: string;
  /** A customer and a product of the tenant, for the createOrder row. */
  readonly customerId: string;
  readonly productId: string;
}

/**
 * Tenantry as production runs it (`node dist/server/main.js`, NODE_ENV=production, default pool and
 * per-tenant limits, worker and rate limits off, logs silenced) against a hand-written graphql-js + `pg`
 * server doing the same per-request security work (bench/api/baselineServer.ts), each in its own child
 * process; the load generator runs here. Every answer is compared in full with the baseline's answer for
 * the same tenant (the first pass over all tenants collects them), so a fast wrong answer counts as an
 * error, and any error fails the scenario. CPU per request is read from /proc for each child (and for
 * Postgres, all its processes) over the timed window only.
 */
export const apiScenario: Scenario = {
  name: 'api',
  async run(bench) {
    const ownerUrl = await bench.createDatabase('bench_api');
    await migrate(ownerUrl);
    const appUrl = await enableAppRoleLogin(ownerUrl, 'bench-app-password');
    const seedStarted = performance.now();
    const tenants = await seed(ownerUrl);
    process.stderr.write(`api: ${TENANTS} tenants seeded in ${((performance.now() - seedStarted) / 1000).toFixed(1)} s\n`);
    buildProduction();

    const env = { DATABASE_URL: ownerUrl, APP_DATABASE_URL: appUrl, JWT_SECRET: SECRET, BASE_DOMAIN: 'bench.test' };
    const unlimited = { ...env, RATE_LIMIT_PER_MINUTE: '0', TENANT_RATE_LIMIT_PER_MINUTE: '0' };
    const tenantry = await startServerProcess(unlimited, { profileDir: PROFILE_DIR });
    const baseline = await startServerProcess(env, { args: ['bench/api/baselineServer.ts'] });
    const before = BEFORE ? await startServerProcess(unlimited, { cwd: checkout(BEFORE) }) : undefined;
    const postgresPid = bench.postgresPid();
    const rows: BenchRow[] = [];
    try {
      for (const op of OPERATIONS.filter((o) => !process.env.BENCH_API_ONLY || o.name.includes(process.env.BENCH_API_ONLY))) {
        const bodies = tenants.map((t) => JSON.stringify({ query: op.query, variables: { id: t.orderId } }));
        // One pass over every tenant on each side: the expected answers, and both sides warmed up.
        const expected = await pass(baseline.port, tenants, bodies);
        const tenantryAnswers = await pass(tenantry.port, tenants, bodies);
        const differs = tenantryAnswers.findIndex((a, i) => a !== expected[i]);
        if (differs >= 0) throw new Error(`api: ${op.name}: Tenantry's answer differs from the baseline's\n${tenantryAnswers[differs].slice(0, 500)}\n${expected[differs].slice(0, 500)}`);
        if (before) await pass(before.port, tenants, bodies); // warmed up like the others
        const runs: { tenantry: Run; baseline: Run }[] = [];
        const beforeRuns: { tenantry: Run; baseline: Run }[] = [];
        for (let i = 0; i < RUNS; i++) {
          const t = await load(tenantry, tenants, bodies, expected, postgresPid);
          const b = await load(baseline, tenants, bodies, expected, postgresPid);
          runs.push({ tenantry: t, baseline: b });
          if (before) beforeRuns.push({ tenantry: t, baseline: await load(before, tenants, bodies, expected, postgresPid) });
        }
        rows.push(operationRow(op.name, runs));
        if (before) rows.push(operationRow(`${op.name}, this tree vs ${BEFORE}`, beforeRuns, false));
      }
      const rateRow = 'one order by id, rate limit on vs off';
      if (RATE_SAMPLES > 0 && (!process.env.BENCH_API_ONLY || rateRow.includes(process.env.BENCH_API_ONLY))) rows.push(await rateLimitRow(rateRow, env, tenantry.port, tenants[0]));
      const keyRow = 'createOrder, a new Idempotency-Key vs none';
      if (RATE_SAMPLES > 0 && (!process.env.BENCH_API_ONLY || keyRow.includes(process.env.BENCH_API_ONLY))) rows.push(await idempotencyKeyRow(keyRow, tenantry.port, tenants[1]));
    } finally {
      await tenantry.stop();
      await baseline.stop();
      await before?.stop();
    }
    return rows;
  },
};

function operationRow(name: string, runs: { tenantry: Run; baseline: Run }[], goal = true): BenchRow {
  const side = (pick: (r: { tenantry: Run; baseline: Run }) => Run) => {
    const all = runs.map(pick);
    const cpu = (f: (r: Run) => number | null) => (all.some((r) => f(r) === null) ? '-' : `${median(all.map((r) => f(r)!)).toFixed(2)} ms`);
    return `${median(all.map((r) => r.rps)).toFixed(0)} req/s, p50 ${ms(median(all.map((r) => r.p50)))}, p99 ${ms(median(all.map((r) => r.p99)))}; CPU/req: node ${cpu((r) => r.nodeCpuMs)}, postgres ${cpu((r) => r.postgresCpuMs)}`;
  };
  const ratios = runs.map((r) => r.baseline.rps / r.tenantry.rps);
  const p99Ratio = median(runs.map((r) => r.tenantry.p99 / r.baseline.p99));
  return {
    scenario: `api: ${name}`,
    measured: side((r) => r.tenantry),
    baseline: side((r) => r.baseline),
    ratio: median(ratios),
    note: `throughput ratio, median of ${runs.length} interleaved ${DURATION_MS / 1000} s runs (${ratios.map((r) => `×${r.toFixed(2)}`).join(' ')}), ${CONCURRENCY} clients over ${TENANTS} tenants; p99 ×${p99Ratio.toFixed(2)}${goal ? '; goal ≤ ×2.00 and p99 ≤ ×2.00' : ''}`,
  };
}

/**
 * 1,000 tenants (BENCH_API_TENANTS), each READY with an ADMIN, SIZE's rows and an order counter,
 * inserted set-based as the owner (ids drawn once into temporary tables, so relations join on them).
 */
async function seed(ownerUrl: string): Promise<TenantRequest[]> {
  const client = new pg.Client({ connectionString: ownerUrl });
  await client.connect();
  try {
    const q = (sql: string, params: unknown[] = []) => client.query(sql, params);
    await q(`create temp table bt as select n, gen_random_uuid() as id from generate_series(1, $1::int) n`, [TENANTS]);
    await q(`insert into tenant (id, name, slug, status, created_at) select id, 'Bench ' || n, 'bench-' || n, 'READY', now() from bt`);
    await q(`create temp table bu as select bt.id as tenant_id, bt.n, gen_random_uuid() as id from bt`);
    await q(`insert into "user" (id, tenant_id, email, role, password_hash, created_at) select id, tenant_id, 'admin@bench-' || n || '.test', 'ADMIN', 'x', now() from bu`);
    for (const [table, count] of [['bp', SIZE.products], ['bc', SIZE.customers], ['bo', SIZE.orders]] as const) {
      await q(`create temp table ${table} as select bt.id as tenant_id, i, gen_random_uuid() as id from bt, generate_series(1, $1::int) i`, [count]);
      await q(`create index on ${table} (tenant_id, i)`);
      await q(`analyze ${table}`);
    }
    await q(`insert into product (tenant_id, id, sku, name, price_cents, created_at, updated_at)
      select tenant_id, id, 'SKU-' || lpad(i::text, 5, '0'), 'Product ' || i, i * 10, now(), now() from bp order by tenant_id, id`);
    await q(`insert into customer (tenant_id, id, name, email, created_at)
      select tenant_id, id, 'Customer ' || lpad(i::text, 3, '0'), 'c' || i || '@example.com', now() from bc order by tenant_id, id`);
    await q(`insert into "order" (tenant_id, id, number, status, customer_id, total_cents, created_at)
      select o.tenant_id, o.id, o.i, 'OPEN', c.id, 100 * o.i, now() from bo o join bc c on c.tenant_id = o.tenant_id and c.i = o.i % $1::int + 1 order by o.tenant_id, o.id`, [SIZE.customers]);
    await q(`insert into order_line (tenant_id, id, order_id, product_id, quantity, unit_price_cents)
      select o.tenant_id, gen_random_uuid(), o.id, p.id, k, 10 * p.i from bo o cross join generate_series(1, $1::int) k
        join bp p on p.tenant_id = o.tenant_id and p.i = (o.i * k) % $2::int + 1 order by o.tenant_id`, [SIZE.linesPerOrder, SIZE.products]);
    await q(`insert into order_counter (tenant_id, id, last_number) select id, gen_random_uuid(), $1::int from bt`, [SIZE.orders]);
    await q('analyze');
    const { rows } = await q(
      `select u.id as user_id, u.tenant_id, o.id as order_id, c.id as customer_id, p.id as product_id
         from bu u join bo o on o.tenant_id = u.tenant_id and o.i = $1::int
         join bc c on c.tenant_id = u.tenant_id and c.i = 1 join bp p on p.tenant_id = u.tenant_id and p.i = 1 order by u.n`,
      [SIZE.orders / 2],
    );
    const tokens = { secret: SECRET, lifetimes: loadConfig({}).tokenLifetimes };
    return rows.map((r) => ({
      token: signAccessToken(tokens, { id: r.user_id, role: Role.ADMIN, tenantId: r.tenant_id }).token,
      orderId: r.order_id,
      customerId: r.customer_id,
      productId: r.product_id,
    }));
  } finally {
    await client.end();
  }
}

/**
 * `revision`'s tree in a temporary directory (removed when the bench exits), built, with this
 * checkout's node_modules: the same packages, another version of the code.
 */
function checkout(revision: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tenantry-bench-before-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  execFileSync('sh', ['-c', `git archive ${JSON.stringify(revision)} | tar -x -C ${JSON.stringify(dir)}`], { cwd: ROOT });
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  buildProduction(dir);
  return dir;
}

/** One POST of `body` with the token (and `headers`): its status and body. */
function post(port: number, body: string, token: string, agent: http.Agent, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ port, host: '127.0.0.1', path: '/graphql', method: 'POST', agent, headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'content-length': Buffer.byteLength(body), ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Every tenant's request once, CONCURRENCY at a time: the answers, in tenant order. Anything but a 200 without errors throws. */
async function pass(port: number, tenants: TenantRequest[], bodies: string[]): Promise<string[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const answers: string[] = new Array(tenants.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (let i = next++; i < tenants.length; i = next++) {
        const r = await post(port, bodies[i], tenants[i].token, agent);
        if (r.status !== 200 || r.text.includes('"errors"')) throw new Error(`${r.status} ${r.text.slice(0, 300)}`);
        answers[i] = r.text.trimEnd(); // Apollo ends its JSON with a newline
      }
    }),
  );
  agent.destroy();
  return answers;
}

interface Run {
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  readonly nodeCpuMs: number | null;
  readonly postgresCpuMs: number | null;
}

/**
 * CONCURRENCY keep-alive clients for DURATION_MS, each request for the next tenant in turn, every answer
 * checked against the expected one: throughput, latency percentiles, and the CPU the server's process
 * and Postgres spent per request in that window.
 */
async function load(server: ServerProcess, tenants: TenantRequest[], bodies: string[], expected: string[], postgresPid: number | null): Promise<Run> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const latencies: number[] = [];
  let next = 0;
  let wrong: string | undefined;
  const cpu = () => ({ node: processCpuMs(server.pid), postgres: postgresPid === null ? null : processTreeCpuMs(postgresPid) });
  const before = cpu();
  const started = performance.now();
  const deadline = started + DURATION_MS;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < deadline && wrong === undefined) {
        const i = next++ % tenants.length;
        const t = performance.now();
        const r = await post(server.port, bodies[i], tenants[i].token, agent);
        latencies.push(performance.now() - t);
        if (r.status !== 200 || r.text.trimEnd() !== expected[i]) wrong = `${r.status} ${r.text.slice(0, 300)}`;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const after = cpu();
  agent.destroy();
  if (wrong !== undefined) throw new Error(`a wrong answer under load: ${wrong}`);
  const n = latencies.length;
  return {
    rps: n / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    nodeCpuMs: before.node === null || after.node === null ? null : (after.node - before.node) / n,
    postgresCpuMs: before.postgres === null || after.postgres === null ? null : cpuMsBetween(before.postgres, after.postgres) / n,
  };
}

/**
 * createOrder on one server, alternating a fresh key per request (its lock, lookup and stored answer:
 * three more round trips in the transaction) with the same mutation without one.
 */
async function idempotencyKeyRow(name: string, port: number, tenant: TenantRequest): Promise<BenchRow> {
  const body = JSON.stringify({
    query: 'mutation PlaceOrder($i: OrderInput!) { createOrder(input: $i) { id number totalCents } }',
    variables: { i: { customerId: tenant.customerId, lines: [{ productId: tenant.productId, quantity: 1 }] } },
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const keyed = sender(port, body, tenant.token, agent, () => ({ 'idempotency-key': randomUUID() }));
    const [withKey, without] = await interleavedLatencies(keyed, sender(port, body, tenant.token, agent));
    return latencyRow(name, withKey, without, `latency, one client, ${RATE_SAMPLES} interleaved requests each`);
  } finally {
    agent.destroy();
  }
}

/**
 * One request at a time, a second Tenantry with limits on (user and tenant keys, both counted in
 * Postgres, high enough never to refuse) alternating with the one without, so load from elsewhere on
 * the machine hits both alike: the latency a rate-limited operation adds (its counter round trips).
 */
async function rateLimitRow(name: string, env: Record<string, string>, offPort: number, tenant: TenantRequest): Promise<BenchRow> {
  const limited = await startServerProcess({ ...env, RATE_LIMIT_PER_MINUTE: '100000000', TENANT_RATE_LIMIT_PER_MINUTE: '100000000' });
  const agents = [new http.Agent({ keepAlive: true, maxSockets: 1 }), new http.Agent({ keepAlive: true, maxSockets: 1 })];
  try {
    const body = JSON.stringify({ query: OPERATIONS[2].query, variables: { id: tenant.orderId } });
    const [on, off] = await interleavedLatencies(sender(limited.port, body, tenant.token, agents[0]), sender(offPort, body, tenant.token, agents[1]));
    return latencyRow(name, on, off, `latency, one client, ${RATE_SAMPLES} interleaved requests each; user + tenant counters in Postgres vs none`);
  } finally {
    agents.forEach((a) => a.destroy());
    await limited.stop();
  }
}

/** A request that must answer 200 without errors; `headers()` is called for each. */
function sender(port: number, body: string, token: string, agent: http.Agent, headers: () => Record<string, string> = () => ({})) {
  return async () => {
    const r = await post(port, body, token, agent, headers());
    if (r.status !== 200 || r.text.includes('"errors"')) throw new Error(`${r.status} ${r.text.slice(0, 300)}`);
  };
}

/** After a warm-up, RATE_SAMPLES requests of each, one at a time, alternating: their latencies. */
async function interleavedLatencies(a: () => Promise<void>, b: () => Promise<void>): Promise<[number[], number[]]> {
  const latencies: [number[], number[]] = [[], []];
  for (let i = 0; i < 100; i++) await Promise.all([a(), b()]);
  for (let i = 0; i < RATE_SAMPLES; i++) {
    for (const [send, into] of [[a, latencies[0]], [b, latencies[1]]] as const) {
      const t = performance.now();
      await send();
      into.push(performance.now() - t);
    }
  }
  return latencies;
}

function latencyRow(name: string, measured: number[], baseline: number[], note: string): BenchRow {
  return {
    scenario: `api: ${name}`,
    measured: `p50 ${ms(median(measured))}, p99 ${ms(percentile(measured, 99))}`,
    baseline: `p50 ${ms(median(baseline))}, p99 ${ms(percentile(baseline, 99))}`,
    ratio: median(measured) / median(baseline),
    note,
  };
}
