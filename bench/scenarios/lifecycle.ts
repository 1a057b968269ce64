import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import pg from 'pg';
import { signAccessToken } from '../../src/auth/accessToken.js';
import { PasswordHasher } from '../../src/auth/passwords.js';
import { loadConfig } from '../../src/config.js';
import { enableAppRoleLogin, migrate } from '../../src/db/database.js';
import { createOrm } from '../../src/db/orm.js';
import { Role } from '../../src/entities/User.js';
import { ProvisioningQueue } from '../../src/jobs/provisioningQueue.js';
import { openArchive } from '../../src/lifecycle/archive.js';
import { eraseTenant, requestDeletion } from '../../src/lifecycle/erase.js';
import { importTenant } from '../../src/lifecycle/import.js';
import { LifecycleQueue } from '../../src/lifecycle/queue.js';
import { fmt } from '../../src/migrate/progress.js';
import { createApp } from '../../src/server/app.js';
import { createLogger } from '../../src/server/logger.js';
import { growth, kept, measureExportMemory, type ExportMemoryRun, type MemoryFigures } from '../exportMemory.js';
import { ms, percentile, type BenchRow, type Scenario } from '../harness.js';

/** Rows of the big tenant (products, customers and orders a sixth each, order lines half). */
const ROWS = Number(process.env.BENCH_LIFECYCLE_ROWS ?? 1_000_000);
const SECRET = 'bench-secret-bench-secret-bench-secret';
const TABLES_CHILDREN_FIRST = ['order_line', 'order', 'customer', 'product', 'order_counter', 'domain', 'user'];

/**
 * Issue 12, item 5. One tenant of ROWS rows (and one of ROWS/10, to show the export's memory does not
 * grow with the tenant), in a migrated database:
 *
 * - export (exportTenantToFile: snapshot, cursor, checksums, tar.gz) against bare SQL doing the same
 *   reading and writing: a cursor over each table as the owner, rows as JSON lines into a gzip file;
 * - the export's memory for both tenants, each export in a child process of its own
 *   (bench/exportMemory.ts): what it keeps (heap and buffers after full collections, every fifth
 *   fetch), and RSS as it runs (sampled every 20 ms, garbage included; the timed export is that run);
 * - erase (requestDeletion + eraseTenant: batches of 5,000 in the tenant's scope with counts) against
 *   `delete … where tenant_id = $1` per table as the owner in one transaction, on a second copy;
 * - import of the archive (remapped ids, checkpoints, verification) against bare `insert … select from
 *   json_to_recordset` of the same lines as the owner in one transaction, ids as they are;
 * - another tenant's `products(first: 50)` over HTTP on the in-process server, one at a time, p99 while
 *   the erase runs against quiet (the erase runs in the server's process, as the in-process worker does).
 */
export const lifecycleScenario: Scenario = {
  name: 'lifecycle',
  async run(bench): Promise<BenchRow[]> {
    const ownerUrl = await bench.createDatabase('bench_lifecycle');
    await migrate(ownerUrl);
    const appUrl = await enableAppRoleLogin(ownerUrl, 'bench-app-password');
    const owner = new pg.Pool({ connectionString: ownerUrl, max: 2 });
    const dir = await mkdtemp(path.join(os.tmpdir(), 'tenantry-bench-lifecycle-'));
    const log = createLogger('silent');
    const orm = await createOrm(appUrl, { pool: { min: 0, max: 10 } });
    const config = loadConfig({ NODE_ENV: 'production', LOG_LEVEL: 'silent', BASE_DOMAIN: 'bench.test', JWT_SECRET: SECRET, RATE_LIMIT_PER_MINUTE: '0', TENANT_RATE_LIMIT_PER_MINUTE: '0', EXPORT_DIR: dir });
    const queue = await ProvisioningQueue.start(appUrl, orm, log, { baseDomain: 'bench.test' });
    const lifecycle = await LifecycleQueue.start(queue.boss, orm, log, { baseDomain: 'bench.test', exports: config.exports });
    const app = await createApp({ config, orm, appUrl, jwtSecret: SECRET, log, provisioner: queue, lifecycle, passwords: new PasswordHasher(config.passwordHashing) });
    const port = await app.listen(0, '127.0.0.1');
    const rows: BenchRow[] = [];
    try {
      const started = performance.now();
      const big = await seed(owner, 'big', ROWS);
      const small = await seed(owner, 'small', Math.round(ROWS / 10));
      const neighbour = await seed(owner, 'neighbour', 600);
      await owner.query('analyze');
      process.stderr.write(`  tenants of ${fmt(ROWS)} and ${fmt(ROWS / 10)} rows loaded in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);

      // Export, and its memory: each export in a process of its own.
      const exportIn = (tenantId: string, file: string, mode: 'live' | 'running') => measureExportMemory({ appUrl, tenantId, file, mode, liveEvery: 5 });
      const archive = path.join(dir, 'big.tar.gz');
      const running = { small: await exportIn(small.id, path.join(dir, 'small.tar.gz'), 'running'), big: await exportIn(big.id, archive, 'running') };
      const live = { small: await exportIn(small.id, path.join(dir, 'small-live.tar.gz'), 'live'), big: await exportIn(big.id, path.join(dir, 'big-live.tar.gz'), 'live') };
      const exported = running.big.rows;
      const bareExport = await timed(() => bareExportSql(owner, big.id, path.join(dir, 'bare.jsonl.gz')));
      rows.push(rate(`lifecycle: export ${fmt(exported)} rows`, exported, running.big.seconds, bareExport.seconds, `in a child process; archive ${fmt(running.big.bytes)} bytes; baseline: a cursor per table as the owner, JSON lines into gzip`));
      rows.push({
        scenario: `lifecycle: export memory kept (after full GCs), ${fmt(exported)} vs ${fmt(live.small.rows)} rows`,
        measured: keptFigure(live.big),
        baseline: keptFigure(live.small),
        ratio: growth(live.big, kept) / growth(live.small, kept),
        note: 'peak over the child process before the export; ×1 is flat in the tenant size',
      });
      rows.push({
        scenario: `lifecycle: export RSS as it runs, ${fmt(exported)} vs ${fmt(running.small.rows)} rows`,
        measured: rssFigure(running.big),
        baseline: rssFigure(running.small),
        ratio: growth(running.big, rss) / growth(running.small, rss),
        note: 'garbage not yet collected included: follows the collector, not the tenant (bench/README.md)',
      });

      // Erase, while the neighbour reads.
      const token = signAccessToken({ secret: SECRET, lifetimes: loadConfig({}).tokenLifetimes }, { id: neighbour.userId, role: Role.ADMIN, tenantId: neighbour.id }).token;
      const read = () => products(port, token);
      for (let i = 0; i < 30; i++) await read();
      const quiet: number[] = [];
      for (let i = 0; i < 300; i++) quiet.push(await read());
      await requestDeletion(orm, big.id, { actorId: null, confirmSlug: 'big' });
      let erasing = true;
      const during: number[] = [];
      const reader = (async () => {
        while (erasing) during.push(await read());
      })();
      const erase = await timed(() => eraseTenant(orm, big.id));
      erasing = false;
      await reader;
      const erased = Object.values(erase.result.deletion!.rows).reduce((n, r) => n + r, 0);

      // Import (measured) and bare inserts of the same lines, then the bare erase of the bare copy.
      const imported = await timed(() => importTenant(orm, createReadStream(archive), { asSlug: 'big-again', baseDomain: 'bench.test' }));
      const bareImport = await timed(() => bareImportSql(owner, archive));
      const bareErase = await timed(() => bareEraseSql(owner, bareImport.result));
      rows.push(rate(`lifecycle: erase ${fmt(erased)} rows`, erased, erase.seconds, bareErase.seconds, 'batches of 5,000 in the tenant scope, counted; baseline: one DELETE per table, one transaction, as the owner'));
      rows.push(rate(`lifecycle: import ${fmt(exported)} rows`, exported, imported.seconds, bareImport.seconds, 'ids remapped, checkpoints, verified; baseline: INSERT … SELECT FROM json_to_recordset of the same lines, one transaction, as the owner'));
      rows.push({
        scenario: "lifecycle: another tenant's products(first: 50), p99",
        measured: `${ms(percentile(during, 99))} during the erase (p50 ${ms(percentile(during, 50))}, ${during.length} reads)`,
        baseline: `${ms(percentile(quiet, 99))} quiet (p50 ${ms(percentile(quiet, 50))})`,
        ratio: percentile(during, 99) / percentile(quiet, 99),
        note: 'sequential HTTP reads on the in-process server while the erase runs in the same process',
      });
    } finally {
      await app.close();
      await queue.stop();
      await orm.close();
      await owner.end();
      await rm(dir, { recursive: true, force: true });
    }
    return rows;
  },
};

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
const rss = (m: MemoryFigures) => m.rss;
const keptFigure = (run: ExportMemoryRun) => `+${mb(growth(run, kept))} (heap +${mb(growth(run, (m) => m.heapUsed))}, buffers +${mb(growth(run, (m) => m.external))})`;
const rssFigure = (run: ExportMemoryRun) => `+${mb(growth(run, rss))} (peak ${mb(run.base.rss + growth(run, rss))}; young generation ${mb(run.newSpace)} at the end)`;

function rate(scenario: string, n: number, seconds: number, baseSeconds: number, note: string): BenchRow {
  return {
    scenario,
    measured: `${fmt(n / seconds)} rows/s (${seconds.toFixed(1)} s)`,
    baseline: `${fmt(n / baseSeconds)} rows/s (${baseSeconds.toFixed(1)} s)`,
    ratio: seconds / baseSeconds,
    note,
  };
}

async function timed<T>(fn: () => Promise<T>): Promise<{ result: T; seconds: number }> {
  const t = performance.now();
  const result = await fn();
  return { result, seconds: (performance.now() - t) / 1000 };
}

/** A READY tenant with `rows` rows, set-based as the owner. */
async function seed(owner: pg.Pool, slug: string, rows: number): Promise<{ id: string; userId: string }> {
  const sixth = Math.max(1, Math.floor(rows / 6));
  const { rows: [t] } = await owner.query(`insert into tenant (id, name, slug, status, created_at) values (gen_random_uuid(), $1, $1, 'READY', now()) returning id`, [slug]);
  const { rows: [u] } = await owner.query(`insert into "user" (id, tenant_id, email, role, password_hash, created_at) values (gen_random_uuid(), $1, 'admin@example.com', 'ADMIN', 'x', now()) returning id`, [t.id]);
  await owner.query(`insert into domain (id, tenant_id, hostname, is_primary, is_active, verified_at, created_at) values (gen_random_uuid(), $1, $2 || '.bench.test', true, true, now(), now())`, [t.id, slug]);
  await owner.query(`insert into product (tenant_id, id, sku, name, price_cents, created_at, updated_at) select $1, gen_random_uuid(), 'SKU-' || lpad(i::text, 7, '0'), 'Product ' || i, i, now(), now() from generate_series(1, $2::int) i`, [t.id, sixth]);
  await owner.query(`insert into customer (tenant_id, id, name, email, created_at) select $1, gen_random_uuid(), 'Customer ' || i, 'c' || i || '@example.com', now() from generate_series(1, $2::int) i`, [t.id, sixth]);
  await owner.query(`insert into "order" (tenant_id, id, number, status, customer_id, total_cents, created_at) select $1, gen_random_uuid(), row_number() over (), 'OPEN', c.id, 100, now() from customer c where c.tenant_id = $1`, [t.id]);
  await owner.query(`insert into order_line (tenant_id, id, order_id, product_id, quantity, unit_price_cents)
    select o.tenant_id, gen_random_uuid(), o.id, p.id, k, 50 from "order" o join product p on p.tenant_id = o.tenant_id and p.sku = 'SKU-' || lpad(o.number::text, 7, '0'), generate_series(1, 3) k where o.tenant_id = $1`, [t.id]);
  await owner.query(`insert into order_counter (tenant_id, id, last_number) values ($1, gen_random_uuid(), $2)`, [t.id, sixth]);
  return { id: t.id, userId: u.id };
}

/** The same reading and writing as an export, bare: a cursor per table as the owner, JSON lines into gzip. */
async function bareExportSql(owner: pg.Pool, tenantId: string, file: string): Promise<void> {
  const client = await owner.connect();
  const gzip = createGzip();
  const done = pipeline(gzip, createWriteStream(file));
  try {
    await client.query('begin isolation level repeatable read read only');
    for (const table of [...TABLES_CHILDREN_FIRST].reverse()) {
      await client.query(`declare c no scroll cursor for select row_to_json(t)::text as line from "${table}" t where tenant_id = $1`, [tenantId]);
      for (;;) {
        const { rows } = await client.query<{ line: string }>('fetch forward 2000 from c');
        if (rows.length === 0) break;
        if (!gzip.write(`${rows.map((r) => r.line).join('\n')}\n`)) await new Promise((r) => gzip.once('drain', r));
      }
      await client.query('close c');
    }
    await client.query('commit');
    gzip.end();
    await done;
  } finally {
    client.release();
  }
}

/** The archive's lines inserted as they are (ids kept) into a new tenant as the owner, one transaction. */
async function bareImportSql(owner: pg.Pool, archive: string): Promise<string> {
  const client = await owner.connect();
  try {
    await client.query('begin');
    const { rows: [t] } = await client.query(`insert into tenant (id, name, slug, status, created_at) values (gen_random_uuid(), 'bare', 'bare-import', 'READY', now()) returning id`);
    const reader = await openArchive(createReadStream(archive));
    for await (const batch of reader.batches(5000)) {
      const columns = reader.manifest.tables.find((x) => x.name === batch.table)!.columns;
      const names = columns.map((c) => `"${c.name}"`).join(', ');
      const fill = batch.table === 'user' ? ', password_hash' : '';
      await client.query(
        `insert into "${batch.table}" (tenant_id, ${names}${fill}) select $1, ${names}${fill ? `, 'x'` : ''} from json_to_recordset($2::json) as r(${columns.map((c) => `"${c.name}" ${c.type}`).join(', ')})`,
        [t.id, `[${batch.lines.join(',')}]`],
      );
    }
    await client.query('commit');
    return t.id;
  } finally {
    client.release();
  }
}

/** One DELETE per table, children first, one transaction, as the owner. */
async function bareEraseSql(owner: pg.Pool, tenantId: string): Promise<void> {
  const client = await owner.connect();
  try {
    await client.query('begin');
    for (const table of ['audit_event', ...TABLES_CHILDREN_FIRST]) await client.query(`delete from "${table}" where tenant_id = $1`, [tenantId]);
    await client.query('commit');
  } finally {
    client.release();
  }
}

function products(port: number, token: string): Promise<number> {
  const body = JSON.stringify({ query: '{ products(first: 50) { edges { node { sku name priceCents } } } }' });
  const t = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/graphql', method: 'POST', agent: keepAlive, headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve(performance.now() - t) : reject(new Error(`products: HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });
