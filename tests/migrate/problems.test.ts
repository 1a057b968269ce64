import { readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { makeLegacyFixture, splitRows } from '../../src/migrate/fixture.js';
import { tenantIdFor } from '../../src/migrate/ids.js';
import type { SkippedRow } from '../../src/migrate/report.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { countsByTenant, createLegacyDatabase, type LegacyDatabase, migrate, spawnCli, targetState } from './support.js';

// tenant_shop_2 gets row problems, tenant_shop_3 an unknown column, tenant_shop_5 repeated legacy ids; 1 and 4 are clean.
const ROWS = 40;
const split = splitRows(ROWS);
const DIRTY = 'tenant_shop_2';
const EXTRA = 'tenant_shop_3';
const NO_PK = 'tenant_shop_5';
const FOUR = ['1', '2', '3', '4'];

let db: TestDatabase;
let legacy: LegacyDatabase;
const reportFile = path.join(os.tmpdir(), `tenantry-skipped-${process.pid}.jsonl`);

beforeAll(async () => {
  [db, legacy] = await Promise.all([createTestDatabase(), createLegacyDatabase()]);
  await makeLegacyFixture(legacy.url, { tenants: 5, rows: ROWS, weirdNames: false, replace: false });
  // ids in tenant 2 are multiples of 3 (stride 1 + 2 % 3)
  await legacy.pool.query(`
    update ${DIRTY}."order" set customer_id = 9999 where id = 30;           -- orphan (the highest number), and so are its lines
    update ${DIRTY}."order" set status = 'SHIPPED' where id = 6;            -- not an order_status
    alter table ${DIRTY}.product alter column name drop not null;
    update ${DIRTY}.product set name = null where id = 9;                   -- NULL in a required column
    update ${DIRTY}.product set sku = 'SKU-000001' where id = 6;            -- duplicate of product 3's sku
    alter table ${EXTRA}.customer add column loyalty_points integer default 7;
    alter table ${NO_PK}.customer drop constraint customer_pkey;
    insert into ${NO_PK}.customer select * from ${NO_PK}.customer where id = 3;  -- ids are multiples of 3 here too`);
});

afterAll(async () => {
  await db?.close();
  await legacy?.drop();
  await rm(reportFile, { force: true });
});

test('a dry run names every problem with counts and legacy ids, and writes nothing', async () => {
  const before = await targetState(db);
  const summary = await migrate(db, legacy, { dryRun: true });
  expect(await targetState(db)).toEqual(before);
  expect(summary.ok).toBe(false);

  const dirty = summary.tenants.find((t) => t.schema === DIRTY)!;
  expect(dirty.ok).toBe(false);
  const problems = dirty.problems.map((p) => ({ kind: p.kind, table: p.table, column: p.column, count: p.count, sampleIds: p.sampleIds }));
  expect(problems).toEqual(
    expect.arrayContaining([
      { kind: 'null', table: 'product', column: 'name', count: 1, sampleIds: ['9'] },
      { kind: 'duplicate', table: 'product', column: 'sku', count: 1, sampleIds: ['6'] },
      { kind: 'orphan', table: 'order', column: 'customer_id', count: 1, sampleIds: ['30'] },
      { kind: 'invalid', table: 'order', column: 'status', count: 1, sampleIds: ['6'] },
    ]),
  );
  expect(problems).toHaveLength(4);
  // What --skip-orphans would leave behind: the bad rows and the order lines that hang off them.
  const invalid = Object.fromEntries(dirty.tables.map((t) => [t.table, t.invalidRows]));
  expect(invalid).toEqual({ product: 2, customer: 0, order: 2, order_line: await dependentLines() });

  const extra = summary.tenants.find((t) => t.schema === EXTRA)!;
  expect(extra.problems).toEqual([expect.objectContaining({ kind: 'unknown-column', table: 'customer', column: 'loyalty_points' })]);
  expect(summary.tenants.filter((t) => t.ok).map((t) => t.schema)).toEqual(['tenant_shop_1', 'tenant_shop_4']);

  const noPk = summary.tenants.find((t) => t.schema === NO_PK)!;
  expect(noPk.problems).toEqual([expect.objectContaining({ kind: 'duplicate-id', table: 'customer', column: 'id', count: 1, sampleIds: ['3'] })]);
});

test('a real run stops the tenants with problems and migrates the others', async () => {
  const summary = await migrate(db, legacy, {});
  expect(summary.ok).toBe(false);
  expect(summary.tenants.map((t) => [t.schema, t.result])).toEqual([
    ['tenant_shop_1', 'migrated'],
    [DIRTY, 'failed'],
    [EXTRA, 'failed'],
    ['tenant_shop_4', 'migrated'],
    [NO_PK, 'failed'],
  ]);
  expect(summary.tenants[1].error).toMatch(/4 problem\(s\), tenant not migrated: .*null product\.name: 1 row/);
  // Repeated legacy ids stop a tenant even with --skip-orphans: which of the rows would be the real one?
  const again = await migrate(db, legacy, { tenants: ['5'], skipOrphans: true, reportPath: reportFile });
  expect(again.tenants[0].error).toMatch(/duplicate-id customer\.id: 1 row\(s\)/);
  // Stopped before any write: no tenant, no rows.
  const { rows } = await db.owner.query(`select id from tenant order by slug`);
  expect(rows.map((r) => r.id)).toEqual([tenantIdFor('1'), tenantIdFor('4')]);
  expect((await countsByTenant(db, 'product')).has(tenantIdFor('2'))).toBe(false);
});

test('--skip-orphans migrates around the bad rows, reports each in a JSON lines file, and verifies', async () => {
  const cli = spawnCli(db, ['migrate-schemas', ...FOUR.flatMap((t) => ['--tenant', t]), '--skip-orphans', '--ignore-unknown-columns', '--report', reportFile, '--source', legacy.url]);
  const result = await cli.done;
  expect(result.stderr).toContain(`skipped rows report: ${reportFile}`);
  expect(result.code).toBe(0);

  const lines = (await readFile(reportFile, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as SkippedRow);
  const byTable = (table: string) => lines.filter((l) => l.table === table);
  expect(lines.every((l) => l.tenant.schema === DIRTY && l.tenant.id === tenantIdFor('2'))).toBe(true);
  expect(byTable('product').map((l) => [l.legacyId, l.reasons])).toEqual([
    ['6', ['duplicate:sku']],
    ['9', ['null:name']],
  ]);
  expect(byTable('order').map((l) => [l.legacyId, l.reasons])).toEqual([
    ['6', ['invalid:status']],
    ['30', ['orphan:customer_id']],
  ]);
  expect(byTable('order')[1].row).toMatchObject({ id: 30, customer_id: 9999, number: split.orders });
  expect(byTable('order_line')).toHaveLength(await dependentLines());
  expect(byTable('order_line').every((l) => l.reasons.some((r) => r === 'orphan:order_id' || r === 'orphan:product_id'))).toBe(true);

  const dirty = tenantIdFor('2');
  expect((await db.owner.query(`select status from tenant where id = $1`, [dirty])).rows[0].status).toBe('READY');
  expect((await countsByTenant(db, 'product')).get(dirty)).toBe(split.products - 2);
  expect((await countsByTenant(db, 'order')).get(dirty)).toBe(split.orders - 2);
  expect((await countsByTenant(db, 'order_line')).get(dirty)).toBe(split.lines - (await dependentLines()));
  // Numbers of skipped legacy orders are not handed out again either (order 30 had the highest).
  expect((await db.owner.query(`select max(number) as n from "order" where tenant_id = $1`, [dirty])).rows[0].n).toBe(split.orders - 1);
  expect((await db.owner.query(`select last_number from order_counter where tenant_id = $1`, [dirty])).rows[0].last_number).toBe(split.orders);
  // The unknown column was dropped, the rest of its table migrated and verified.
  expect((await countsByTenant(db, 'customer')).get(tenantIdFor('3'))).toBe(split.customers);

  // Verification of a --skip-orphans tenant compares with the rows it kept; a plain re-run has
  // nothing left to copy there, so the problems no longer stop anything.
  const rerun = await migrate(db, legacy, { tenants: FOUR });
  expect(rerun.tenants.map((t) => [t.schema, t.ok, t.error])).toEqual([
    ['tenant_shop_1', true, undefined],
    [DIRTY, true, undefined],
    [EXTRA, true, undefined],
    ['tenant_shop_4', true, undefined],
  ]);
  expect(rerun.rowsCopied).toBe(0);
  const verify = await migrate(db, legacy, { tenants: FOUR, verifyOnly: true });
  expect(verify.tenants.map((t) => [t.schema, t.result])).toEqual([
    ['tenant_shop_1', 'verified'],
    [DIRTY, 'verified'],
    [EXTRA, 'verified'],
    ['tenant_shop_4', 'verified'],
  ]);
}, 30_000);

/** Order lines of tenant 2 that reference a bad order (6, 30) or a bad product (6, 9). */
async function dependentLines(): Promise<number> {
  const { rows } = await legacy.pool.query(`select count(*)::int as n from ${DIRTY}.order_line where order_id in (6, 30) or product_id in (6, 9)`);
  return rows[0].n;
}
