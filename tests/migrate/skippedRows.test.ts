import { readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { inTenant } from '../../src/filters/inTenant.js';
import { makeLegacyFixture } from '../../src/migrate/fixture.js';
import { tenantIdFor } from '../../src/migrate/ids.js';
import type { MigrationSummary, SkippedRow } from '../../src/migrate/report.js';
import { txQuery } from '../../src/migrate/sql.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { type CliResult, createLegacyDatabase, type LegacyDatabase, migrate, spawnCli } from './support.js';

// Three tenants with rows --skip-orphans leaves out at different points of the copy: tenant 1 early
// (a product without name, and the lines of it), tenant 2 at the end of its orders (two orphans with
// the highest ids, as a legacy database had them) and a customer without id, tenant 3 in the middle
// of its orders; tenant 3's hostname belongs to another tenant already.
const ROWS = 1000;
const T1 = tenantIdFor('1');
const T2 = tenantIdFor('2');
const T3 = tenantIdFor('3');
const TAKEN_HOSTNAME = 'shop-3.tenantry.test';
const dir = os.tmpdir();
const reportOf = (name: string) => path.join(dir, `tenantry-skipped-${process.pid}-${name}.jsonl`);

let interrupted: TestDatabase;
let uninterrupted: TestDatabase;
let legacy: LegacyDatabase;
/** The uninterrupted run, for comparison. */
let reference: { result: CliResult; summary: MigrationSummary; report: string };
const children: ReturnType<typeof spawnCli>['child'][] = [];

beforeAll(async () => {
  [interrupted, uninterrupted, legacy] = await Promise.all([createTestDatabase(), createTestDatabase(), createLegacyDatabase()]);
  await makeLegacyFixture(legacy.url, { tenants: 3, rows: ROWS, weirdNames: false, replace: false });
  await legacy.pool.query(`
    alter table tenant_shop_1.product alter column name drop not null;
    update tenant_shop_1.product set name = null where id = 10;
    insert into tenant_shop_2."order" (id, "number", status, customer_id, total_cents, created_at)
      values (900001, 9001, 'OPEN', 999999, 100, '2024-06-01'), (900002, 9002, 'PAID', 999998, 200, '2024-06-02');
    alter table tenant_shop_2.customer drop constraint customer_pkey;
    alter table tenant_shop_2.customer alter column id drop not null;
    insert into tenant_shop_2.customer (id, name, email, created_at) values (null, 'No id', null, '2024-06-03');
    update tenant_shop_3."order" set status = 'SHIPPED' where id = 120;`);
  for (const db of [interrupted, uninterrupted]) {
    await db.owner.query(`insert into tenant (id, name, slug, status, created_at) values (gen_random_uuid(), 'Squatter', 'squatter', 'READY', now())`);
    // A row another tenant verified before BASE_DOMAIN covered the name: the one thing that can stand in the way.
    await db.owner.query(`insert into domain (id, tenant_id, hostname, is_primary, is_active, verified_at, created_at) select gen_random_uuid(), id, $1, true, true, now(), now() from tenant where slug = 'squatter'`, [
      TAKEN_HOSTNAME,
    ]);
  }
  const result = await run(uninterrupted, 'uninterrupted').done;
  expect(result.code).toBe(0);
  reference = { result, summary: JSON.parse(result.stdout) as MigrationSummary, report: await readFile(reportOf('uninterrupted'), 'utf8') };
}, 60_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await interrupted?.close();
  await uninterrupted?.close();
  await legacy?.drop();
  await Promise.all(['uninterrupted', 'interrupted'].map((name) => rm(reportOf(name), { force: true })));
});

/** The real CLI, small transactions, one tenant at a time (so the kill points below are reached in order). */
function run(db: TestDatabase, name: string) {
  const cli = spawnCli(db, [
    'migrate-schemas', '--all', '--skip-orphans', '--report', reportOf(name), '--batch-size', '10', '--concurrency', '1', '--json', '--source', legacy.url,
  ]);
  children.push(cli.child);
  return cli;
}

/** Starts the CLI on the interrupted target and SIGKILLs it as soon as `reached` says so. */
async function killWhen(reached: () => Promise<boolean>): Promise<void> {
  const cli = run(interrupted, 'interrupted');
  const deadline = Date.now() + 30_000;
  while (!(await reached())) {
    if (cli.child.exitCode !== null || Date.now() > deadline) throw new Error(`the CLI ended before the kill point: ${(await cli.done).stderr}`);
    await sleep(5);
  }
  cli.child.kill('SIGKILL');
  expect((await cli.done).signal).toBe('SIGKILL');
}

async function checkpoints(tenantId: string): Promise<Map<string, { done: boolean; rows: number }>> {
  const { rows } = await interrupted.owner.query(`select table_name, done, rows_copied::int as rows from migration_checkpoint where tenant_id = $1`, [tenantId]);
  return new Map(rows.map((r) => [r.table_name, { done: r.done, rows: r.rows }]));
}

test('killed with SIGKILL twice, the final run writes the report and notes an uninterrupted run writes', async () => {
  // Tenant 2's orders done (its two orphans skipped), its order lines not yet.
  await killWhen(async () => {
    const c = await checkpoints(T2);
    return c.get('order')?.done === true && c.get('order_line')?.done === false;
  });
  const { rows: recorded } = await interrupted.owner.query(`select legacy_id::text from migration_skipped_row where tenant_id = $1 and table_name = 'order' order by legacy_id`, [T2]);
  expect(recorded.map((r) => r.legacy_id)).toEqual(['900001', '900002']);

  // Tenant 3 created (without its primary domain) and partly copied.
  await killWhen(async () => [...(await checkpoints(T3)).values()].some((c) => c.rows > 0));
  expect([...(await checkpoints(T3)).values()].every((c) => c.done)).toBe(false);

  const final = await run(interrupted, 'interrupted').done;
  expect(final.code).toBe(0);
  const summary = JSON.parse(final.stdout) as MigrationSummary;
  expect(await readFile(reportOf('interrupted'), 'utf8')).toBe(reference.report);
  expect(summary.skippedRows).toBe(reference.summary.skippedRows);
  const notes = (s: MigrationSummary) => s.tenants.map((t) => [t.schema, t.notes]);
  expect(notes(summary)).toEqual(notes(reference.summary));

  // What the reference holds: every row left out, by whichever run left it out, and the hostname note.
  const lines = reference.report.trim().split('\n').map((l) => JSON.parse(l) as SkippedRow);
  const reported = lines.filter((l) => l.table !== 'order_line').map((l) => [l.tenant.schema, l.table, l.legacyId, l.reasons]);
  expect(reported).toEqual([
    ['tenant_shop_1', 'product', '10', ['null:name']],
    ['tenant_shop_2', 'customer', null, ['null:id']],
    ['tenant_shop_2', 'order', '900001', ['orphan:customer_id']],
    ['tenant_shop_2', 'order', '900002', ['orphan:customer_id']],
    ['tenant_shop_3', 'order', '120', ['invalid:status']],
  ]);
  expect(lines.find((l) => l.legacyId === '900002')!.row).toMatchObject({ id: 900002, number: 9002, customer_id: 999998 });
  expect(lines.filter((l) => l.table === 'order_line').length).toBeGreaterThan(0);
  expect(reference.summary.tenants.find((t) => t.schema === 'tenant_shop_3')!.notes).toContain(`hostname ${TAKEN_HOSTNAME} is taken: no primary domain created`);
}, 120_000);

test('a re-run of a finished migration writes the same report, recording nothing twice', async () => {
  const count = async () => (await interrupted.owner.query(`select count(*)::int as n from migration_skipped_row`)).rows[0].n;
  const before = await count();
  const again = await run(interrupted, 'interrupted').done;
  expect(again.code).toBe(0);
  expect(JSON.parse(again.stdout).rowsCopied).toBe(0);
  expect(await readFile(reportOf('interrupted'), 'utf8')).toBe(reference.report);
  expect(await count()).toBe(before);
}, 60_000);

test('the run that completes a tenant reports the rows earlier runs skipped, whichever tables it copied itself', async () => {
  const db = await createTestDatabase();
  try {
    const first = await migrate(db, legacy, { tenants: ['1'], models: ['Product', 'Customer'], skipOrphans: true, reportPath: reportOf('parents') });
    expect(first.tenants[0].result).toBe('partial');
    const rest = await migrate(db, legacy, { tenants: ['1'], models: ['Order', 'OrderLine'], skipOrphans: true, reportPath: reportOf('children') });
    expect([rest.tenants[0].result, rest.tenants[0].error]).toEqual(['migrated', undefined]);
    const ofTenant1 = (report: string) => report.split('\n').filter((l) => l.includes('"schema":"tenant_shop_1"')).join('\n');
    const report = await readFile(reportOf('children'), 'utf8');
    expect(report).toContain('"table":"product","legacyId":"10","reasons":["null:name"]');
    expect(ofTenant1(report)).toBe(ofTenant1(reference.report));
  } finally {
    await db.close();
    await Promise.all(['parents', 'children'].map((name) => rm(reportOf(name), { force: true })));
  }
}, 30_000);

test('the progress line counts copied rows only, as the summary does', async () => {
  const done = /^done: 3\/3 tenants, ([\d,]+) rows/m.exec(reference.result.stderr);
  expect(done).not.toBeNull();
  expect(reference.summary.skippedRows).toBeGreaterThan(0);
  expect(Number(done![1].replaceAll(',', ''))).toBe(reference.summary.rowsCopied);
});

test('stored skipped rows and notes are visible to their own tenant only', async () => {
  const db = uninterrupted;
  const seen = (tenantId: string, table: string) =>
    inTenant(db.orm, tenantId, async (em) => (await txQuery<{ tenant_id: string }>(em, `select tenant_id from "${table}"`)).rows.map((r) => r.tenant_id));
  for (const [tenant, other] of [
    [T1, T3],
    [T3, T1],
  ]) {
    const rows = await seen(tenant, 'migration_skipped_row');
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((t) => t === tenant)).toBe(true);
    expect(rows).not.toContain(other);
    const { rows: all } = await db.owner.query(`select count(*)::int as n from migration_skipped_row where tenant_id = $1`, [tenant]);
    expect(rows).toHaveLength(all[0].n);
  }
  expect(await seen(T3, 'migration_note')).toEqual([T3]);
  expect(await seen(T1, 'migration_note')).toEqual([]);
  // Without a tenant in the transaction the app role gets an error, never rows.
  await expect(db.orm.em.fork().getConnection().execute(`select * from migration_skipped_row`)).rejects.toThrow();
});
