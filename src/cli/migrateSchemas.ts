import { loadConfig } from '../config.js';
import { EMBEDDED_DATABASE, startEmbeddedPostgres } from '../db/embedded.js';
import { UsageError } from '../migrate/errors.js';
import { checkOptions, DEFAULT_OPTIONS, type MigrateOptions, modeOf } from '../migrate/options.js';
import { createProgress } from '../migrate/progress.js';
import { formatSummary } from '../migrate/report.js';
import { MigrationRunningError, type RunLock, takeRunLock } from '../migrate/runLock.js';
import type { Command } from './commands.js';

const d = DEFAULT_OPTIONS;

const help = `Usage: npm run cli -- migrate-schemas (--all | --tenant <schema|id>…) [options]

Moves a schema-per-tenant legacy database (a registry table plus one schema per tenant) into
Tenantry's row-level tables, verifies every table, and can be stopped and re-run at any point.
See docs/migrate.md.

Which tenants and tables
  --all                      every tenant of the registry (its "public" row aside)
  --tenant <schema|id>       one tenant by schema name or registry id; repeatable
  --model <Entity>           only this entity (Product, Customer, Order, OrderLine) or table; repeatable.
                             Parents must be picked too or migrated already.

What to do (default: migrate, then verify each tenant)
  --dry-run                  write nothing; per tenant and table: rows to move and every problem
                             (orphaned foreign keys, NULLs in required columns, duplicates of per-tenant
                             unique keys, values the target cannot hold, unknown or missing columns)
  --verify-only              write nothing; compare row counts and content checksums of source and target
  --skip-orphans             copy around row problems instead of stopping the tenant: rows with a
                             problem (and rows depending on them) are left out and written to the report
  --report <file>            the --skip-orphans report (JSON lines): every row skipped for this run's tenants,
                             by this or an earlier run; default ./migrate-skipped-<time>.jsonl
  --ignore-unknown-columns   drop legacy columns the target has no place for (default: a problem)

Source and mapping
  --source <url>             the legacy database (default: the target database, DATABASE_URL)
  --registry-table <name>    registry table, [schema.]table (default ${d.registry.table})
  --registry-id-column <c>   (default ${d.registry.idColumn})
  --registry-schema-column <c> (default ${d.registry.schemaColumn})
  --registry-name-column <c> (default ${d.registry.nameColumn})
  --strip-prefix <p>         removed from schema names before deriving slugs (default "${d.stripPrefix}"; "" keeps all)

Tuning and output
  --batch-size <n>           rows per copy batch and checkpoint (default ${d.batchSize})
  --concurrency <n>          tenants migrated at the same time (default ${d.concurrency})
  --json                     print the summary as JSON on stdout
  --quiet                    no progress on stderr

Progress goes to stderr (bars on a terminal, plain lines otherwise), the summary to stdout.
Exit codes: 0 every tenant migrated and verified (or, for --dry-run, has no blocking problem);
            1 any tenant failed, had blocking problems, or did not verify; 2 bad usage;
            3 another migrate-schemas is running against the target (nothing was done).
The target is DATABASE_URL (owner; migrations applied first) and APP_DATABASE_URL (app role).`;

export const migrateSchemasCommand: Command = {
  help,
  options: {
    all: { type: 'boolean' },
    tenant: { type: 'string', multiple: true },
    model: { type: 'string', multiple: true },
    'dry-run': { type: 'boolean' },
    'verify-only': { type: 'boolean' },
    'skip-orphans': { type: 'boolean' },
    report: { type: 'string' },
    'ignore-unknown-columns': { type: 'boolean' },
    source: { type: 'string' },
    'registry-table': { type: 'string' },
    'registry-id-column': { type: 'string' },
    'registry-schema-column': { type: 'string' },
    'registry-name-column': { type: 'string' },
    'strip-prefix': { type: 'string' },
    'batch-size': { type: 'string' },
    concurrency: { type: 'string' },
    json: { type: 'boolean' },
    quiet: { type: 'boolean' },
  },
  async run(v) {
    let options: MigrateOptions;
    try {
      options = {
        all: v.all === true,
        tenants: (v.tenant as string[] | undefined) ?? [],
        models: (v.model as string[] | undefined) ?? [],
        dryRun: v['dry-run'] === true,
        verifyOnly: v['verify-only'] === true,
        skipOrphans: v['skip-orphans'] === true,
        ignoreUnknownColumns: v['ignore-unknown-columns'] === true,
        batchSize: positiveInt(v['batch-size'], d.batchSize, '--batch-size'),
        concurrency: positiveInt(v.concurrency, d.concurrency, '--concurrency'),
        registry: {
          table: (v['registry-table'] as string | undefined) ?? d.registry.table,
          idColumn: (v['registry-id-column'] as string | undefined) ?? d.registry.idColumn,
          schemaColumn: (v['registry-schema-column'] as string | undefined) ?? d.registry.schemaColumn,
          nameColumn: (v['registry-name-column'] as string | undefined) ?? d.registry.nameColumn,
        },
        stripPrefix: (v['strip-prefix'] as string | undefined) ?? d.stripPrefix,
        reportPath: v.report as string | undefined,
      };
      checkOptions(options);
    } catch (err) {
      process.stderr.write(`${(err as Error).message}\n\n${help}\n`);
      return 2;
    }

    const config = loadConfig();
    // The embedded server is started (or joined) here rather than by openDatabase, which joins it, so
    // that the lock can be taken before migrations run and the ORM is loaded.
    const embedded = config.databaseUrl ? undefined : await startEmbeddedPostgres(config.dataDir, config.embeddedPgPort);
    let lock: RunLock | undefined;
    try {
      if (modeOf(options) === 'migrate') lock = await lockTarget(config.databaseUrl ?? embedded!.url(EMBEDDED_DATABASE));
      const [{ openDatabase }, { migrateSchemas }] = await Promise.all([import('../db/database.js'), import('../migrate/migrator.js')]);
      const db = await openDatabase(config, { poolSize: options.concurrency + 4 });
      try {
        const progress = createProgress(process.stderr, { quiet: v.quiet === true });
        const summary = await migrateSchemas(
          { orm: db.orm, sourceUrl: (v.source as string | undefined) ?? db.ownerUrl, baseDomain: config.baseDomain, progress, lockUrl: lock ? undefined : db.ownerUrl },
          options,
        );
        // Wait for the write: main() exits the process right after, which would cut a piped stdout short.
        await new Promise<void>((resolve) => process.stdout.write(v.json ? `${JSON.stringify(summary, null, 2)}\n` : `${formatSummary(summary)}\n`, () => resolve()));
        if (summary.reportFile) process.stderr.write(`skipped rows report: ${summary.reportFile}\n`);
        return summary.ok ? 0 : 1;
      } finally {
        await db.close();
      }
    } catch (err) {
      if (err instanceof UsageError) {
        process.stderr.write(`${err.message}\n`);
        return 2;
      }
      if (err instanceof MigrationRunningError) {
        process.stderr.write(`${err.message}\n`);
        return 3;
      }
      throw err;
    } finally {
      await lock?.release();
      await embedded?.stop();
    }
  },
};

/**
 * The run lock on the target, taken first. A target database that does not exist yet (a fresh
 * embedded server) has no run going: then the migrator takes the lock itself once openDatabase has
 * created the database, still before it writes anything.
 */
async function lockTarget(url: string): Promise<RunLock | undefined> {
  try {
    return await takeRunLock(url);
  } catch (err) {
    if ((err as { code?: string }).code === INVALID_CATALOG_NAME) return undefined;
    throw err;
  }
}

/** SQLSTATE of "database does not exist". */
const INVALID_CATALOG_NAME = '3D000';

function positiveInt(value: unknown, fallback: number, flag: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} must be a positive integer, got "${String(value)}"`);
  return n;
}
