import { setTimeout as sleep } from 'node:timers/promises';
import { makeLegacyFixture, splitRows } from '../../src/migrate/fixture.js';
import { tenantIdFor } from '../../src/migrate/ids.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { countsByTenant, createLegacyDatabase, type LegacyDatabase, spawnCli } from './support.js';

const TENANTS = 3;
const ROWS = 2000;
const split = splitRows(ROWS);
const TABLES = { product: split.products, customer: split.customers, order: split.orders, order_line: split.lines } as const;
const ARGS = ['migrate-schemas', '--all', '--batch-size', '20', '--concurrency', '1'];

let db: TestDatabase;
let legacy: LegacyDatabase;
const children: ReturnType<typeof spawnCli>['child'][] = [];

beforeAll(async () => {
  [db, legacy] = await Promise.all([createTestDatabase(), createLegacyDatabase()]);
  await makeLegacyFixture(legacy.url, { tenants: TENANTS, rows: ROWS, weirdNames: false, replace: false });
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await db?.close();
  await legacy?.drop();
});

/** Starts the CLI and SIGKILLs it as soon as `copied` rows are committed (by its checkpoints). */
async function killAfter(copied: number): Promise<number> {
  const cli = spawnCli(db, [...ARGS, '--source', legacy.url]);
  children.push(cli.child);
  const deadline = Date.now() + 20_000;
  for (;;) {
    const { rows } = await db.owner.query(`select coalesce(sum(rows_copied), 0)::int as n from migration_checkpoint`);
    if (rows[0].n >= copied) break;
    if (cli.child.exitCode !== null || Date.now() > deadline) throw new Error(`the CLI ended before the kill point: ${(await cli.done).stderr}`);
    await sleep(5);
  }
  cli.child.kill('SIGKILL');
  const result = await cli.done;
  expect(result.signal).toBe('SIGKILL');
  await settle();
  const { rows } = await db.owner.query(`select coalesce(sum(rows_copied), 0)::int as n from migration_checkpoint`);
  return rows[0].n;
}

/**
 * The dead client's backends may still be finishing what they had received (a COMMIT sent just before
 * the kill) or noticing the closed socket (rolling back): wait until none is busy before looking.
 */
async function settle(): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const { rows } = await db.owner.query(
      `select count(*)::int as n from pg_stat_activity where datname = current_database() and usename = 'tenantry_app' and state <> 'idle'`,
    );
    if (rows[0].n === 0) return;
    await sleep(10);
  }
  throw new Error('backends of the killed CLI still busy after 5 s');
}

/** After a kill: every checkpoint is exactly the rows in the target (no duplicate, no gap), nothing past it. */
async function expectCheckpointsMatchRows(): Promise<void> {
  const { rows: checkpoints } = await db.owner.query(`select c.tenant_id, c.table_name, c.last_legacy_id, c.rows_copied::int, c.done, c.source_schema
                                                        from migration_checkpoint c`);
  for (const cp of checkpoints) {
    const { rows: target } = await db.owner.query(`select count(*)::int as n from "${cp.table_name}" where tenant_id = $1`, [cp.tenant_id]);
    const { rows: source } = await legacy.pool.query(`select count(*)::int as n from "${cp.source_schema}"."${cp.table_name}" where id <= $1`, [cp.last_legacy_id ?? 0]);
    expect({ at: `${cp.source_schema}.${cp.table_name}`, target: target[0].n, checkpoint: cp.rows_copied }).toEqual({
      at: `${cp.source_schema}.${cp.table_name}`,
      target: source[0].n,
      checkpoint: source[0].n,
    });
  }
  // Tables without a checkpoint have no rows at all.
  for (const table of Object.keys(TABLES)) {
    const { rows } = await db.owner.query(
      `select count(*)::int as n from "${table}" t where not exists (select 1 from migration_checkpoint c where c.tenant_id = t.tenant_id and c.table_name = $1)`,
      [table],
    );
    expect([table, rows[0].n]).toEqual([table, 0]);
  }
}

test('killed with SIGKILL mid-copy, twice, then re-run: every row exactly once, verified', async () => {
  const total = TENANTS * ROWS;
  const first = await killAfter(1);
  expect(first).toBeLessThan(total);
  await expectCheckpointsMatchRows();
  const { rows: ready } = await db.owner.query(`select count(*)::int as n from tenant where status = 'READY'`);
  expect(ready[0].n).toBeLessThan(TENANTS);

  const second = await killAfter(first + 800);
  expect(second).toBeLessThan(total);
  await expectCheckpointsMatchRows();

  const final = spawnCli(db, [...ARGS, '--source', legacy.url]);
  children.push(final.child);
  const result = await final.done;
  expect(result.code).toBe(0);
  expect(result.stdout).toMatch(new RegExp(`migrate: ${TENANTS} tenant\\(s\\), 0 failed, ${total - second} row\\(s\\) copied`));
  // Not a terminal: plain progress lines, one per table and tenant.
  expect(result.stderr).toMatch(/tenant_shop_3: order_line [\d,]+ rows copied in [\d.]+ s/);
  expect(result.stderr).toMatch(/✓ tenant_shop_3: migrated/);
  expect(result.stderr).not.toContain('\x1b[');

  await expectCheckpointsMatchRows();
  for (const [table, n] of Object.entries(TABLES)) {
    const counts = await countsByTenant(db, table);
    for (let i = 1; i <= TENANTS; i++) expect([table, i, counts.get(tenantIdFor(String(i)))]).toEqual([table, i, n]);
  }
  const { rows: statuses } = await db.owner.query(`select status, count(*)::int as n from tenant group by status`);
  expect(statuses).toEqual([{ status: 'READY', n: TENANTS }]);
}, 60_000);
