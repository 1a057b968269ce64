import type { Orm } from '../db/orm.js';
import { TenantStatus } from '../entities/index.js';
import { isGone } from '../entities/Tenant.js';
import { inTenant } from '../filters/inTenant.js';
import { type Checkpoint, initialCheckpoint, readCheckpoints } from './checkpoints.js';
import { copyTables, type CopyResult } from './copy.js';
import { tenantIdFor } from './ids.js';
import { planTenant, type TenantPlan } from './plan.js';
import { describeProblem } from './problems.js';
import { createProgress, type Progress } from './progress.js';
import { readNotes } from './notes.js';
import { checkOptions, type MigrateMode, type MigrateOptions, modeOf } from './options.js';
import { type LegacyTenant, readRegistry, selectTenants } from './registry.js';
import { defaultReportPath, type MigrationSummary, SkippedRowsReport, type TableOutcome, type TenantOutcome } from './report.js';
import { takeRunLock } from './runLock.js';
import { readSkippedRows } from './skippedRows.js';
import { LegacySource, type Snapshot } from './source.js';
import { qi } from './sql.js';
import { loadTargetModel, resolveModels, type TargetTable } from './targetModel.js';
import { assignSlugs, ensureTenant, finishTenant, findTenant, markFailed } from './tenantRecord.js';
import { type TableVerification, verifyTables } from './verify.js';

export interface MigrateDeps {
  /** The app-role ORM: every write goes through asPlatform, every target read through inTenant. */
  readonly orm: Orm;
  /** The legacy database (only read). */
  readonly sourceUrl: string;
  /** Primary domains are `<slug>.<baseDomain>`. */
  readonly baseDomain: string;
  readonly progress?: Progress;
  /**
   * A URL of the target database to take the one-run-at-a-time lock on (runLock.ts) before anything
   * else; none: the caller holds it already (the command line takes it before loading the ORM) or
   * wants no lock.
   */
  readonly lockUrl?: string;
}

/**
 * `migrate-schemas`: moves schema-per-tenant legacy data into the row-level tables, verifies it, and
 * can be killed and re-run at any point. Tenants are independent: one failing stops only itself.
 */
export async function migrateSchemas(deps: MigrateDeps, opts: MigrateOptions): Promise<MigrationSummary> {
  checkOptions(opts);
  const mode = modeOf(opts);
  const lock = mode === 'migrate' && deps.lockUrl ? await takeRunLock(deps.lockUrl) : undefined;
  const started = Date.now();
  const progress = deps.progress ?? createProgress();
  const source = new LegacySource(deps.sourceUrl, opts.concurrency + 1);
  let rowsCopied = 0;
  try {
    const model = await loadTargetModel(deps.orm);
    const selectedTables = resolveModels(model, opts.models);
    const tenants = selectTenants(await readRegistry(source, opts.registry), opts.all, opts.tenants);
    progress.start(tenants.length);
    const slugs = await assignSlugs(deps.orm, tenants.map((legacy) => ({ legacy, tenantId: tenantIdFor(legacy.legacyId) })), opts.stripPrefix);
    const run: TenantRun = {
      deps,
      opts,
      mode,
      model,
      selectedTables,
      source,
      progress,
      slugs,
      copied: (n) => (rowsCopied += n),
    };
    const outcomes = await mapPool(tenants, opts.concurrency, (legacy) => processTenant(run, legacy));
    const report =
      mode === 'migrate' && opts.skipOrphans
        ? await writeReport(deps.orm, opts.reportPath ?? defaultReportPath(), outcomes, model.map((t) => t.table))
        : undefined;
    progress.finish();
    return {
      mode,
      ok: outcomes.every((o) => o.ok),
      tenants: outcomes,
      rowsCopied,
      seconds: (Date.now() - started) / 1000,
      reportFile: report && report.rows > 0 ? report.file : null,
      skippedRows: report?.rows ?? 0,
    };
  } finally {
    await source.close();
    await lock?.release();
    progress.close();
  }
}

interface TenantRun {
  readonly deps: MigrateDeps;
  readonly opts: MigrateOptions;
  readonly mode: MigrateMode;
  readonly model: readonly TargetTable[];
  readonly selectedTables: ReadonlySet<string>;
  readonly source: LegacySource;
  readonly progress: Progress;
  /** The slug of every tenant of the run, by tenant id. */
  readonly slugs: ReadonlyMap<string, string>;
  readonly copied: (rows: number) => void;
}

async function processTenant(run: TenantRun, legacy: LegacyTenant): Promise<TenantOutcome> {
  const { deps, opts } = run;
  const tenantId = tenantIdFor(legacy.legacyId);
  const label = legacy.schema;
  let tenant = await findTenant(deps.orm, tenantId);
  const checkpoints = tenant ? await inTenant(deps.orm, tenantId, (em) => readCheckpoints(em, tenantId)) : new Map<string, Checkpoint>();
  /** Notes of this run only (what a dry run would do); what a write did is stored (notes.ts). */
  const notes: string[] = [];
  let plan: TenantPlan | undefined;
  const outcome = async (
    result: TenantOutcome['result'],
    ok: boolean,
    extra: { error?: string; tables?: TableOutcome[]; storedNotes?: readonly string[] } = {},
  ): Promise<TenantOutcome> => {
    const stored = extra.storedNotes ?? (tenant ? await readNotes(deps.orm, tenantId) : []);
    const o: TenantOutcome = {
      legacyId: legacy.legacyId,
      schema: legacy.schema,
      name: legacy.name,
      tenantId,
      slug: tenant?.slug ?? null,
      status: tenant?.status ?? null,
      result,
      ok,
      error: extra.error,
      problems: plan?.problems ?? [],
      notes: [...notes, ...stored, ...(plan?.tables.flatMap((t) => (t.selected ? t.mapping.notes : [])) ?? [])],
      tables: extra.tables ?? plan?.tables.map((t) => tableOutcome(t, {})) ?? [],
    };
    run.progress.tenantDone(label, ok ? result : `${result}${extra.error ? `: ${extra.error}` : ''}`, ok);
    return o;
  };

  // An erased tenant's legacy schema is not migrated into its tombstone again (its rows would come back).
  if (tenant && isGone(tenant.status)) return outcome('failed', false, { error: `tenant ${tenant.slug} is ${tenant.status}: it was erased, not migrated again`, storedNotes: [] });
  try {
    return await run.source.snapshot(async (snap) => {
      plan = await planTenant(snap, legacy, tenantId, run.model, checkpoints, {
        selectedTables: run.selectedTables,
        skipOrphans: opts.skipOrphans,
        ignoreUnknownColumns: opts.ignoreUnknownColumns,
      });

      if (run.mode === 'dry-run') {
        if (!tenant) {
          const slug = run.slugs.get(tenantId)!;
          notes.push(`would create tenant with slug ${slug}`);
          const o = await outcome('planned', plan.blocking.length === 0, { error: blockingError(plan) });
          return { ...o, slug };
        }
        return outcome('planned', plan.blocking.length === 0, { error: blockingError(plan) });
      }

      if (run.mode === 'verify-only') {
        if (!tenant) return outcome('failed', false, { error: 'not migrated: no tenant for this legacy id' });
        const tables = [...run.selectedTables];
        const notDone = tables.filter((t) => !checkpoints.get(t)?.done);
        if (notDone.length) return outcome('failed', false, { error: `not migrated: ${notDone.join(', ')}` });
        const verifications = await verifyTables(
          deps.orm,
          snap,
          plan.sql,
          tables.map((table) => ({ table, onlyValid: checkpoints.get(table)?.skipInvalid ?? false })),
          tables.includes('order'),
        );
        const failed = verifications.filter((v) => !v.ok);
        return outcome(failed.length ? 'failed' : 'verified', failed.length === 0, {
          error: failed.length ? verifyError(failed) : undefined,
          tables: plan.tables.map((t) => tableOutcome(t, { verification: verifications.find((v) => v.table === t.table) })),
        });
      }

      // A real run.
      if (plan.blocking.length) {
        if (tenant && tenant.status !== TenantStatus.READY) await markFailed(deps.orm, tenantId, blockingError(plan)!);
        if (tenant) tenant = await findTenant(deps.orm, tenantId);
        return outcome('failed', false, { error: blockingError(plan) });
      }
      const ensured = await ensureTenant(deps.orm, legacy, tenantId, {
        baseDomain: deps.baseDomain,
        slug: run.slugs.get(tenantId)!,
        schema: legacy.schema,
        tables: plan.tables.map((t) => t.table),
      });
      tenant = ensured.tenant;

      const current = ensured.created ? await inTenant(deps.orm, tenantId, (em) => readCheckpoints(em, tenantId)) : new Map(checkpoints);
      const tasks = plan.tables
        .filter((t) => t.selected && !current.get(t.table)?.done)
        .map((t) => ({ table: t.table, start: current.get(t.table) ?? initialCheckpoint(t.table), absent: !t.mapping.source }));
      for (const t of tasks) run.progress.table(label, t.table, plan.tables.find((p) => p.table === t.table)!.toMove);
      const copied = await copyTables(
        {
          orm: deps.orm,
          snap,
          sql: plan.sql,
          tenantId,
          batchSize: opts.batchSize,
          filterInvalid: plan.filterInvalid,
          onRows: (table, n) => run.progress.rows(label, table, n),
          onTableDone: (table, result) => {
            current.set(table, result.checkpoint);
            run.copied(result.inserted);
            run.progress.tableDone(label, table, result.inserted);
          },
        },
        tasks,
      );

      const allDone = plan.tables.every((t) => current.get(t.table)?.done);
      const toVerify = allDone ? plan.tables.map((t) => t.table) : plan.tables.filter((t) => t.selected).map((t) => t.table);
      const verifications = await verifyTables(
        deps.orm,
        snap,
        plan.sql,
        toVerify.map((table) => ({ table, onlyValid: current.get(table)?.skipInvalid ?? false })),
        false,
      );
      const failed = verifications.filter((v) => !v.ok);
      const tables = plan.tables.map((t) =>
        tableOutcome(t, { copied: copied.get(t.table), done: current.get(t.table)?.done, verification: verifications.find((v) => v.table === t.table) }),
      );
      if (failed.length) {
        if (tenant.status !== TenantStatus.READY) await markFailed(deps.orm, tenantId, verifyError(failed));
        tenant = await findTenant(deps.orm, tenantId);
        return outcome('failed', false, { error: verifyError(failed), tables });
      }
      // The counter continues after the highest legacy order number (a READY tenant already has it).
      const counter = current.get('order')?.done && (copied.has('order') || tenant.status !== TenantStatus.READY);
      await finishTenant(deps.orm, tenantId, {
        counterAtLeast: counter ? await sourceMaxOrderNumber(snap, plan) : null,
        verifiedTables: toVerify,
        ready: allDone && tenant.status !== TenantStatus.READY,
      });
      tenant = await findTenant(deps.orm, tenantId);
      return outcome(allDone ? 'migrated' : 'partial', true, { tables });
    });
  } catch (err) {
    const message = (err as Error).message;
    if (run.mode === 'migrate' && tenant && tenant.status !== TenantStatus.READY) {
      await markFailed(deps.orm, tenantId, message).catch(() => undefined);
      tenant = await findTenant(deps.orm, tenantId).catch(() => tenant);
    }
    // The database may be what failed: the failure is reported all the same, without the stored notes.
    const storedNotes = tenant ? await readNotes(deps.orm, tenantId).catch(() => []) : [];
    return outcome('failed', false, { error: message, storedNotes });
  }
}

function tableOutcome(
  t: TenantPlan['tables'][number],
  r: { copied?: CopyResult; done?: boolean; verification?: TableVerification },
): TableOutcome {
  return {
    table: t.table,
    entity: t.entity,
    selected: t.selected,
    sourceRows: t.sourceRows,
    toMove: t.toMove,
    invalidRows: t.invalidRows,
    copied: r.copied?.inserted ?? 0,
    skipped: r.copied?.skipped ?? 0,
    done: r.done ?? t.checkpoint?.done ?? false,
    problems: t.problems,
    verification: r.verification && {
      ok: r.verification.ok,
      sourceRows: r.verification.source.rows,
      targetRows: r.verification.target.rows,
      detail: r.verification.detail,
    },
  };
}

function blockingError(plan: TenantPlan): string | undefined {
  if (!plan.blocking.length) return undefined;
  const first = plan.blocking.slice(0, 3).map(describeProblem).join('; ');
  return `${plan.blocking.length} problem(s), tenant not migrated: ${first}${plan.blocking.length > 3 ? '; …' : ''}`;
}

function verifyError(failed: readonly TableVerification[]): string {
  return `verification failed for ${failed.map((v) => `${v.table} (${v.detail})`).join(', ')}`;
}

/** The highest legacy order number (skipped orders included), so no legacy number is handed out again. */
async function sourceMaxOrderNumber(snap: Snapshot, plan: TenantPlan): Promise<number> {
  const order = plan.sql.mapping('order');
  const col = order.columns.find((c) => c.target.name === 'number');
  if (!order.source || !col) return 0;
  const [r] = await snap.query<{ max: number | null }>(
    `select max(n)::int as max from (select ${qi(col.source.name)}::numeric as n from ${plan.sql.from('order')}) o where n between 1 and 2147483647`,
  );
  return r.max ?? 0;
}

/**
 * The --skip-orphans report of this run: every row skipped for the tenants it processed, by whichever
 * run skipped it (they are stored with the checkpoints), in registry, table and legacy id order: after
 * a kill and a re-run it is the report an uninterrupted run writes.
 */
async function writeReport(orm: Orm, file: string, outcomes: readonly TenantOutcome[], tables: readonly string[]): Promise<{ file: string; rows: number }> {
  const report = new SkippedRowsReport(file);
  try {
    for (const o of outcomes.filter((t) => t.status !== null)) {
      for (const r of await readSkippedRows(orm, o.tenantId, tables)) {
        await report.write({ tenant: { legacyId: o.legacyId, schema: o.schema, id: o.tenantId }, table: r.table, legacyId: r.legacyId, reasons: r.reasons, row: r.row });
      }
    }
  } finally {
    await report.close();
  }
  return { file: report.file, rows: report.rows };
}

/** Runs `fn` over `items`, at most `n` at a time; results in input order. */
async function mapPool<T, R>(items: readonly T[], n: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return results;
}
