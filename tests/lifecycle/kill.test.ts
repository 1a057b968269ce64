/**
 * Issue 12, item 4: the real command line killed with SIGKILL in the middle of export-tenant,
 * delete-tenant and import-tenant, then run again: nothing lost, nothing duplicated, nothing counted
 * twice, and another tenant untouched throughout.
 */
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createReadStream } from 'node:fs';
import { openArchive } from '../../src/lifecycle/archive.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { spawnCli } from '../migrate/support.js';
import { rowCounts, rowVersions } from './support.js';

/** Rows of the big tenant: enough that each command is still running when it is killed. */
const PRODUCTS = 10_000;

let db: TestDatabase;
let dir: string;
const children: ReturnType<typeof spawnCli>['child'][] = [];

/** A READY tenant loaded set-based as the owner: products, customers, orders of two lines, a user, a domain, a counter. */
async function bigTenant(slug: string, products: number): Promise<string> {
  const q = (sql: string, params: unknown[]) => db.owner.query(sql, params);
  const { rows: [t] } = await q(`insert into tenant (id, name, slug, status, created_at) values (gen_random_uuid(), $1, $1, 'READY', now()) returning id`, [slug]);
  await q(`insert into "user" (id, tenant_id, email, role, password_hash, created_at) values (gen_random_uuid(), $1, 'admin@' || $2 || '.example.com', 'ADMIN', 'x', now())`, [t.id, slug]);
  await q(`insert into domain (id, tenant_id, hostname, is_primary, is_active, verified_at, created_at) values (gen_random_uuid(), $1, $2 || '.tenantry.test', true, true, now(), now())`, [t.id, slug]);
  await q(`insert into product (tenant_id, id, sku, name, price_cents, created_at, updated_at) select $1, gen_random_uuid(), 'SKU-' || i, 'Product ' || i, i, now(), now() from generate_series(1, $2::int) i`, [t.id, products]);
  await q(`insert into customer (tenant_id, id, name, email, created_at) select $1, gen_random_uuid(), 'Customer ' || i, 'c' || i || '@example.com', now() from generate_series(1, $2::int) i`, [t.id, products]);
  await q(`insert into "order" (tenant_id, id, number, status, customer_id, total_cents, created_at)
             select $1, gen_random_uuid(), row_number() over (), 'OPEN', c.id, 100, now() from customer c where c.tenant_id = $1`, [t.id]);
  await q(`insert into order_line (tenant_id, id, order_id, product_id, quantity, unit_price_cents)
             select o.tenant_id, gen_random_uuid(), o.id, p.id, k, 50 from "order" o join product p on p.tenant_id = o.tenant_id and p.sku = 'SKU-' || o.number, generate_series(1, 2) k where o.tenant_id = $1`, [t.id]);
  await q(`insert into order_counter (tenant_id, id, last_number) values ($1, gen_random_uuid(), $2)`, [t.id, products]);
  await q('analyze', []);
  return t.id;
}

beforeAll(async () => {
  db = await createTestDatabase();
  dir = await mkdtemp(path.join(os.tmpdir(), 'tenantry-kill-'));
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await db?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const cli = (args: string[]) => {
  const run = spawnCli(db, args, { LOG_LEVEL: 'silent', DATA_DIR: dir });
  children.push(run.child);
  return run;
};

/** Starts `args`, SIGKILLs it once `ready()` holds, and waits for its backends to settle. */
async function killWhen(args: string[], ready: () => Promise<boolean>): Promise<void> {
  const run = cli(args);
  const deadline = Date.now() + 30_000;
  while (!(await ready())) {
    if (run.child.exitCode !== null || Date.now() > deadline) throw new Error(`${args[0]} ended before the kill point: ${(await run.done).stderr}`);
    await sleep(5);
  }
  run.child.kill('SIGKILL');
  expect((await run.done).signal).toBe('SIGKILL');
  for (let i = 0; i < 500; i++) {
    const { rows } = await db.owner.query(`select count(*)::int as n from pg_stat_activity where datname = current_database() and usename = 'tenantry_app' and state <> 'idle'`);
    if (rows[0].n === 0) return;
    await sleep(10);
  }
  throw new Error('backends of the killed command still busy after 5 s');
}

test('export-tenant, delete-tenant and import-tenant killed with SIGKILL and run again: every row exactly once', async () => {
  const big = await bigTenant('big', PRODUCTS);
  const other = await bigTenant('other', 50);
  const before = await rowCounts(db, big);
  const otherRows = await rowVersions(db, other);
  const archive = path.join(dir, 'big.tar.gz');

  // Export: killed once archive bytes are on disk; no file that looks whole is left; the rerun writes it whole.
  await killWhen(['export-tenant', '--tenant', 'big', '--out', archive], async () => existsSync(`${archive}.partial`) && statSync(`${archive}.partial`).size > 0);
  expect(existsSync(archive)).toBe(false);
  const exported = await cli(['export-tenant', '--tenant', 'big', '--out', archive]).done;
  expect({ code: exported.code, stderr: exported.stderr }).toEqual({ code: 0, stderr: expect.stringMatching(/big: order_line [\d,]+ rows exported/) });
  const { manifest } = await openArchive(createReadStream(archive));
  expect(Object.fromEntries(manifest.tables.map((t) => [t.name, t.rows]))).toEqual(Object.fromEntries(manifest.tables.map((t) => [t.name, before[t.name]])));

  // Erase: killed mid-way; what is gone is counted exactly once, the rest still there; the rerun finishes.
  const deleted = async () => {
    const { rows } = await db.owner.query(`select coalesce(sum(value::bigint), 0)::int as n from tenant, jsonb_each_text(deletion->'rows') where id = $1`, [big]);
    return rows[0].n as number;
  };
  await killWhen(['delete-tenant', '--tenant', 'big', '--confirm-slug', 'big', '--batch-size', '500'], async () => (await deleted()) >= 3000);
  const { rows: [mid] } = await db.owner.query(`select status, deletion from tenant where id = $1`, [big]);
  expect(mid.status).toBe('DELETING');
  const remaining = await rowCounts(db, big);
  for (const [table, n] of Object.entries(before)) {
    const gone = Number(mid.deletion.rows[table] ?? 0);
    expect([table, remaining[table] + gone - (table === 'audit_event' ? 1 : 0)]).toEqual([table, n]); // + the tenant.delete event
  }
  const erased = await cli(['delete-tenant', '--tenant', 'big', '--confirm-slug', 'big', '--batch-size', '500']).done;
  expect({ code: erased.code, stdout: erased.stdout }).toEqual({ code: 0, stdout: expect.stringMatching(/^deleted big .*DELETED at/) });
  const { rows: [tomb] } = await db.owner.query(`select status, deletion from tenant where id = $1`, [big]);
  expect(tomb.status).toBe('DELETED');
  for (const [table, n] of Object.entries(before)) expect([table, Number(tomb.deletion.rows[table] ?? 0)]).toEqual([table, n + (table === 'audit_event' ? 1 : 0)]);
  expect(Object.values(await rowCounts(db, big)).reduce((a, b) => a + b, 0)).toBe(1); // the tenant.deleted event

  // Import: killed mid-way; every committed batch is in its checkpoint; the rerun loads the rest once and verifies.
  const importedRows = async () => {
    const { rows } = await db.owner.query(`select coalesce(sum(archive_rows), 0)::int as n from tenant_import_checkpoint c join tenant t on t.id = c.tenant_id where t.slug = 'big'`);
    return rows[0].n as number;
  };
  await killWhen(['import-tenant', '--in', archive, '--batch-size', '500'], async () => (await importedRows()) >= 3000);
  const { rows: [half] } = await db.owner.query(`select id, status from tenant where slug = 'big'`);
  expect(half.status).toBe('PREPARING');
  const { rows: checkpoints } = await db.owner.query(`select table_name, archive_rows::int as n, inserted_rows::int as i from tenant_import_checkpoint where tenant_id = $1`, [half.id]);
  const partial = await rowCounts(db, half.id);
  for (const c of checkpoints) expect([c.table_name, partial[c.table_name]]).toEqual([c.table_name, c.i]);
  expect(checkpoints.reduce((n, c) => n + c.n, 0)).toBeLessThan(Object.values(before).reduce((a, b) => a + b, 0));
  const loaded = await cli(['import-tenant', '--in', archive, '--batch-size', '500']).done;
  expect({ code: loaded.code, stdout: loaded.stdout }).toEqual({ code: 0, stdout: expect.stringMatching(/^imported big .* verified, .* loaded by this run; READY/) });
  const { rows: [done] } = await db.owner.query(`select id, status from tenant where slug = 'big'`);
  expect(done).toEqual({ id: half.id, status: 'READY' });
  const after = await rowCounts(db, done.id);
  for (const t of manifest.tables) expect([t.name, after[t.name]]).toEqual([t.name, t.name === 'audit_event' ? t.rows + 1 : t.rows]); // + tenant.import

  // Run again: nothing to do. And the other tenant's rows were never touched.
  const again = await cli(['import-tenant', '--in', archive]).done;
  expect({ code: again.code, stdout: again.stdout }).toEqual({ code: 0, stdout: expect.stringContaining('was imported already') });
  const otherAfter = await rowVersions(db, other);
  expect([...otherRows].filter((r) => !otherAfter.has(r))).toEqual([]);
}, 120_000);
