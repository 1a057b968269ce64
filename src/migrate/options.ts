import { UsageError } from './errors.js';
import { DEFAULT_REGISTRY, type RegistryOptions } from './registry.js';

/**
 * What `migrate-schemas` is asked to do. Its own module, free of the ORM, so the command line can
 * parse and check its flags (and refuse a concurrent run) before loading the rest.
 */
export interface MigrateOptions {
  /** Every registry tenant (`public` aside)… */
  readonly all: boolean;
  /** …or these, by schema name or registry id. */
  readonly tenants: readonly string[];
  /** Entity names (or table names); none: every table. */
  readonly models: readonly string[];
  readonly dryRun: boolean;
  readonly verifyOnly: boolean;
  readonly skipOrphans: boolean;
  readonly ignoreUnknownColumns: boolean;
  readonly batchSize: number;
  /** Tenants migrated at the same time. */
  readonly concurrency: number;
  readonly registry: RegistryOptions;
  /** Removed from the schema name before deriving the slug (e.g. `tenant_`). */
  readonly stripPrefix: string;
  /** --skip-orphans report file (default: ./migrate-skipped-<time>.jsonl). */
  readonly reportPath?: string;
}

export const DEFAULT_OPTIONS: MigrateOptions = {
  all: false,
  tenants: [],
  models: [],
  dryRun: false,
  verifyOnly: false,
  skipOrphans: false,
  ignoreUnknownColumns: false,
  batchSize: 5000,
  concurrency: 4,
  registry: DEFAULT_REGISTRY,
  stripPrefix: 'tenant_',
};

export type MigrateMode = 'migrate' | 'dry-run' | 'verify-only';

export function modeOf(opts: Pick<MigrateOptions, 'dryRun' | 'verifyOnly'>): MigrateMode {
  return opts.dryRun ? 'dry-run' : opts.verifyOnly ? 'verify-only' : 'migrate';
}

/** Flag combinations that make no sense: a UsageError (exit code 2) before anything is done. */
export function checkOptions(opts: MigrateOptions): void {
  if (opts.all === opts.tenants.length > 0) throw new UsageError('Give either --all or at least one --tenant');
  if (opts.dryRun && opts.verifyOnly) throw new UsageError('--dry-run and --verify-only exclude each other');
  if (!(opts.batchSize >= 1)) throw new UsageError('--batch-size must be at least 1');
  if (!(opts.concurrency >= 1)) throw new UsageError('--concurrency must be at least 1');
}
