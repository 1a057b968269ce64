import { performance } from 'node:perf_hooks';
import { enableAppRoleLogin, migrate, withClient } from '../../src/db/database.js';
import { createOrm } from '../../src/db/orm.js';
import { makeLegacyFixture } from '../../src/migrate/fixture.js';
import { tenantIdFor } from '../../src/migrate/ids.js';
import { mapTable } from '../../src/migrate/mapping.js';
import { migrateSchemas } from '../../src/migrate/migrator.js';
import { DEFAULT_OPTIONS } from '../../src/migrate/options.js';
import { createProgress, fmt } from '../../src/migrate/progress.js';
import { DEFAULT_REGISTRY, readRegistry } from '../../src/migrate/registry.js';
import { LegacySource, readSourceSchema } from '../../src/migrate/source.js';
import { qi } from '../../src/migrate/sql.js';
import { loadTargetModel } from '../../src/migrate/targetModel.js';
import { TenantSql } from '../../src/migrate/tenantSql.js';
import type { BenchRow, Scenario } from '../harness.js';

const TENANTS = Number(process.env.BENCH_MIGRATE_TENANTS ?? 1000);
const ROWS_PER_TENANT = Number(process.env.BENCH_MIGRATE_ROWS ?? 1000);

/**
 * migrate-schemas on a legacy database of 1,000 tenants x 1,000 rows (1M rows; another database, as
 * with --source), against the limit: the same rows, ids mapped by the same SQL, moved by plain
 * `INSERT … SELECT` statements as the owner (no checks, no checkpoints, no verification, no audit,
 * no RLS, one transaction) into a database holding both the legacy schemas and the target tables.
 */
export const migrateScenario: Scenario = {
  name: 'migrate',
  async run(server): Promise<BenchRow[]> {
    const legacyUrl = await server.createDatabase('bench_migrate_legacy');
    const fixture = await makeLegacyFixture(legacyUrl, { tenants: TENANTS, rows: ROWS_PER_TENANT, weirdNames: false, replace: false });
    process.stderr.write(`  legacy fixture: ${fmt(fixture.rows)} rows in ${fixture.seconds.toFixed(1)} s\n`);

    // Baseline database: a copy of the legacy one plus the Tenantry schema, so one statement can move rows.
    const baselineUrl = server.pg.url('bench_migrate_baseline');
    await withClient(server.pg.url('postgres'), (c) => c.query(`create database bench_migrate_baseline template bench_migrate_legacy`));
    await migrate(baselineUrl);
    const baseline = await insertSelect(baselineUrl);

    const targetUrl = await server.createDatabase('bench_migrate_target');
    await migrate(targetUrl);
    const orm = await createOrm(await enableAppRoleLogin(targetUrl, 'bench-app-password'), { pool: { min: 0, max: DEFAULT_OPTIONS.concurrency + 4 } });
    let seconds: number;
    let copied: number;
    try {
      const started = performance.now();
      const summary = await migrateSchemas(
        { orm, sourceUrl: legacyUrl, baseDomain: 'bench.test', progress: createProgress(process.stderr, { quiet: true }) },
        { ...DEFAULT_OPTIONS, all: true },
      );
      seconds = (performance.now() - started) / 1000;
      copied = summary.rowsCopied;
      if (!summary.ok || copied !== fixture.rows) throw new Error(`migrate-schemas did not migrate everything: ${summary.tenants.find((t) => !t.ok)?.error}`);
    } finally {
      await orm.close();
    }

    const rate = copied / seconds;
    const baseRate = fixture.rows / baseline;
    return [
      {
        scenario: `migrate-schemas ${fmt(TENANTS)} tenants / ${fmt(fixture.rows)} rows`,
        measured: `${fmt(rate)} rows/s (${seconds.toFixed(1)} s)`,
        baseline: `${fmt(baseRate)} rows/s (${baseline.toFixed(1)} s)`,
        ratio: baseRate / rate,
        note: 'baseline: INSERT … SELECT of the same mapped rows; measured includes checks, checkpoints, audit, verification',
      },
    ];
  },
};

/** Moves every legacy row with one INSERT … SELECT per tenant and table, in one transaction; returns seconds. */
async function insertSelect(url: string): Promise<number> {
  const source = new LegacySource(url, 1);
  const statements: string[][] = [[], [], [], []];
  const tenantIds: string[] = [];
  const orm = await createOrm(url, { pool: { min: 0, max: 1 } });
  try {
    const model = await loadTargetModel(orm);
    for (const legacy of await readRegistry(source, DEFAULT_REGISTRY)) {
      const tenantId = tenantIdFor(legacy.legacyId);
      tenantIds.push(tenantId);
      await source.snapshot(async (snap) => {
        const { tables } = await readSourceSchema(snap, legacy.schema);
        const mappings = new Map(model.map((t) => [t.table, mapTable(t, tables.get(t.table) ?? null, false)]));
        const sql = new TenantSql(tenantId, legacy.schema, mappings);
        model.forEach((t, i) => {
          const cols = mappings.get(t.table)!.columns;
          statements[i].push(
            `insert into ${qi(t.table)} ("tenant_id", ${cols.map((c) => qi(c.target.name)).join(', ')})
             select '${tenantId}', ${cols.map((c) => `(${sql.copyExpr(c, 's', 'm')})::${c.target.type}`).join(', ')}
               from ${sql.from(t.table)} s ${sql.lateral(t.table, 's', 'm')};`,
          );
        });
      });
    }
  } finally {
    await orm.close();
    await source.close();
  }
  return withClient(url, async (c) => {
    const started = performance.now();
    await c.query('begin');
    await c.query(`insert into tenant (id, name, slug, created_at) select id, id::text, 't' || md5(id::text), now() from unnest($1::uuid[]) id`, [tenantIds]);
    for (const table of statements) {
      for (let i = 0; i < table.length; i += 100) await c.query(table.slice(i, i + 100).join('\n'));
    }
    await c.query('commit');
    return (performance.now() - started) / 1000;
  });
}
