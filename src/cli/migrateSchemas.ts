import { loadConfig } from '../config.js';
import { openDatabase } from '../db/database.js';
import { UsageError } from '../migrate/errors.js';
import { DEFAULT_OPTIONS, migrateSchemas, type MigrateOptions } from '../migrate/migrator.js';
import { createProgress } from '../migrate/progress.js';
import { formatSummary } from '../migrate/report.js';
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
  --report <file>            the --skip-orphans report (JSON lines); default ./migrate-skipped-<time>.jsonl
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
            1 any tenant failed, had blocking problems, or did not verify; 2 bad usage.
The target is DATABASE_URL (owner; migrations applied first) and APP_DATABASE_URL (app role).`;

export const migrateSchemasCommand: Command = {
  summary: 'Move a schema-per-tenant legacy database into the row-level tables (resumable, verified)',
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
      if (options.all === options.tenants.length > 0) throw new UsageError('Give either --all or at least one --tenant');
      if (options.dryRun && options.verifyOnly) throw new UsageError('--dry-run and --verify-only exclude each other');
    } catch (err) {
      process.stderr.write(`${(err as Error).message}\n\n${help}\n`);
      return 2;
    }

    const config = loadConfig();
    const db = await openDatabase(config, { poolSize: options.concurrency + 4 });
    const progress = createProgress(process.stderr, { quiet: v.quiet === true });
    try {
      const summary = await migrateSchemas(
        { orm: db.orm, sourceUrl: (v.source as string | undefined) ?? db.ownerUrl, baseDomain: config.baseDomain, progress, lockUrl: db.appUrl },
        options,
      );
      // Wait for the write: main() exits the process right after, which would cut a piped stdout short.
      await new Promise<void>((resolve) => process.stdout.write(v.json ? `${JSON.stringify(summary, null, 2)}\n` : `${formatSummary(summary)}\n`, () => resolve()));
      if (summary.reportFile) process.stderr.write(`skipped rows report: ${summary.reportFile}\n`);
      return summary.ok ? 0 : 1;
    } catch (err) {
      if (err instanceof UsageError) {
        process.stderr.write(`${err.message}\n`);
        return 2;
      }
      throw err;
    } finally {
      await db.close();
    }
  },
};

function positiveInt(value: unknown, fallback: number, flag: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} must be a positive integer, got "${String(value)}"`);
  return n;
}
