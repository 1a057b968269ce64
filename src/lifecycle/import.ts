import { LockMode } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { v3 as uuidv3 } from 'uuid';
import type { Orm } from '../db/orm.js';
import { platformHostname } from '../domains/hostnames.js';
import { AuditEvent } from '../entities/AuditEvent.js';
import { Tenant, TenantStatus } from '../entities/Tenant.js';
import { inTenant } from '../filters/inTenant.js';
import { publishStatus } from '../jobs/prepareTenant.js';
import { txQuery } from '../migrate/sql.js';
import { isReservedSlug, SLUG_PATTERN } from '../schema/validation.js';
import { type ArchiveManifest, openArchive } from './archive.js';
import { type LifecyclePlan, planLifecycle, readCatalog, type TablePlan, UncoveredTablesError } from './catalog.js';
import { LifecycleError } from './errors.js';
import { NO_PROGRESS, type TableProgress } from './progress.js';
import { digestSql, type IdMapping, importBatchSql } from './sql.js';

/** Namespace of imported tenants' ids: UUIDv3(`import:<export id>:<slug>`). */
export const IMPORT_NAMESPACE = '8a1d3f2e-6c4b-4e7a-9b1f-2d5c7e9a0b34';

export const DEFAULT_IMPORT_BATCH = 2000;

export interface ImportOptions {
  /** The slug of the new tenant (default: the archive's). */
  readonly asSlug?: string;
  /** Keep the archive's tenant id and row ids (only when no tenant has that id). */
  readonly keepIds?: boolean;
  /** This deployment's BASE_DOMAIN: the new tenant's own hostname is `<slug>.<baseDomain>`. */
  readonly baseDomain: string;
  readonly batchSize?: number;
  readonly progress?: TableProgress;
}

export interface ImportResult {
  readonly tenantId: string;
  readonly slug: string;
  /** Rows per table, as the manifest counts them and as they were verified in the new tenant. */
  readonly tables: readonly { readonly table: string; readonly rows: number }[];
  /** Rows this run loaded (less than the total when it resumed an interrupted import). */
  readonly rowsLoaded: number;
  /** The tenant was already imported and READY: nothing was done. */
  readonly alreadyImported: boolean;
}

/** The id an import gives the new tenant: the same for the same archive and slug, so a rerun resumes it. */
export function importedTenantId(exportId: string, slug: string): string {
  return uuidv3(`import:${exportId}:${slug}`, IMPORT_NAMESPACE);
}

interface Checkpoint {
  table_name: string;
  archive_rows: string;
  archive_sum_hi: string;
  archive_sum_lo: string;
  inserted_rows: string;
  inserted_sum_hi: string;
  inserted_sum_lo: string;
  done: boolean;
}

/**
 * Loads an archive (read as a stream from `input`) into a new tenant, in batches that each commit with
 * the checkpoint of their table in the tenant's own scope (RLS on): killed at any point and run again
 * with the same archive and slug, it finds its tenant (a deterministic id) and goes on after the last
 * committed batch, so no row is lost or loaded twice. Ids are remapped as the migrator maps legacy ids
 * (UUIDv3 of `<table>:<archive id>` in the new tenant's id), foreign keys with them. Then it verifies,
 * per table, the archive's rows against the manifest (count and checksum: nothing lost or changed in
 * the file) and the new tenant's rows against what was inserted (count and checksum), and the tenant
 * ends READY (or FAILED, with the differences).
 */
export async function importTenant(orm: Orm, input: Readable, options: ImportOptions): Promise<ImportResult> {
  const progress = options.progress ?? NO_PROGRESS;
  const archive = await openArchive(input);
  const { manifest } = archive;
  const slug = options.asSlug ?? manifest.tenant.slug;
  if (!SLUG_PATTERN.test(slug) || isReservedSlug(slug)) throw new LifecycleError(`"${slug}" is not a valid slug`, 2);
  const tenantId = options.keepIds ? manifest.tenant.id : importedTenantId(manifest.exportId, slug);
  const ids: IdMapping = { tenantId, keepIds: options.keepIds === true };

  const plan = await inTenant(orm, tenantId, async (em) => planLifecycle(await readCatalog(em)));
  if (plan.uncovered.length) throw new UncoveredTablesError(plan.uncovered);
  const statements = importStatements(plan, manifest, ids, platformHostname(slug, options.baseDomain));

  const state = await ensureTenant(orm, manifest, tenantId, slug);
  if (state === 'imported') {
    return { tenantId, slug, tables: manifest.tables.map((t) => ({ table: t.name, rows: t.rows })), rowsLoaded: 0, alreadyImported: true };
  }
  const checkpoints = await readCheckpoints(orm, tenantId);
  const loaded = new Map(checkpoints.map((c) => [c.table_name, Number(c.archive_rows)]));
  const seen = new Map<string, number>();
  let rowsLoaded = 0;
  let current: string | null = null;
  for await (const batch of archive.batches(options.batchSize ?? DEFAULT_IMPORT_BATCH)) {
    if (batch.table !== current) {
      if (current) progress.tableDone(current, loaded.get(current) ?? 0);
      current = batch.table;
      const total = manifest.tables.find((t) => t.name === current)!.rows;
      progress.table(current, total);
      if (loaded.get(current)) progress.rows(current, loaded.get(current)!);
    }
    // Lines a committed batch already loaded (a resumed run) are read again and skipped.
    const before = seen.get(batch.table) ?? 0;
    seen.set(batch.table, before + batch.lines.length);
    const skip = Math.max(0, (loaded.get(batch.table) ?? 0) - before);
    if (skip >= batch.lines.length) continue;
    const lines = batch.lines.slice(skip);
    const expected = loaded.get(batch.table) ?? 0;
    await inTenant(orm, tenantId, async (em) => {
      // A batch and its checkpoint commit together; a crash loses both (the rerun loads them again).
      await txQuery(em, 'set local synchronous_commit = off');
      const { rows } = await txQuery<{ archive_rows: number; archive_sum_hi: string; archive_sum_lo: string; inserted_rows: number; inserted_sum_hi: string; inserted_sum_lo: string }>(
        em,
        statements.get(batch.table)!,
        [tenantId, `[${lines.join(',')}]`],
      );
      const r = rows[0];
      const { affected } = await txQuery(
        em,
        `update "tenant_import_checkpoint"
            set archive_rows = archive_rows + $3, archive_sum_hi = archive_sum_hi + $4::numeric, archive_sum_lo = archive_sum_lo + $5::numeric,
                inserted_rows = inserted_rows + $6, inserted_sum_hi = inserted_sum_hi + $7::numeric, inserted_sum_lo = inserted_sum_lo + $8::numeric,
                updated_at = now()
          where tenant_id = $1 and table_name = $2 and archive_rows = $9 and not done`,
        [tenantId, batch.table, r.archive_rows, r.archive_sum_hi, r.archive_sum_lo, r.inserted_rows, r.inserted_sum_hi, r.inserted_sum_lo, expected],
      );
      if (affected !== 1) throw new LifecycleError(`The import checkpoint of ${batch.table} moved under this run: is another import-tenant of this archive running?`, 3);
    });
    loaded.set(batch.table, expected + lines.length);
    rowsLoaded += lines.length;
    progress.rows(batch.table, lines.length);
  }
  if (current) progress.tableDone(current, loaded.get(current) ?? 0);

  const failures = await verifyImport(orm, tenantId, manifest, plan);
  await finishImport(orm, tenantId, manifest, failures);
  if (failures.length) throw new LifecycleError(`Import verification failed: ${failures.join('; ')}`, 1);
  return { tenantId, slug, tables: manifest.tables.map((t) => ({ table: t.name, rows: t.rows })), rowsLoaded, alreadyImported: false };
}

/** Per archive table, its import statement; refuses an archive this database could not load whole. */
function importStatements(plan: LifecyclePlan, manifest: ArchiveManifest, ids: IdMapping, platformHost: string): Map<string, string> {
  const ctx = { ids, archivePlatformHost: platformHostname(manifest.tenant.slug, manifest.baseDomain), platformHost };
  const out = new Map<string, string>();
  for (const table of manifest.tables) {
    const target: TablePlan | undefined = plan.tables.find((t) => t.table === table.name);
    if (!target || !target.exported) throw new LifecycleError(`The archive holds table ${table.name}, which this database ${target ? 'does not import' : 'does not have'}`, 1);
    const targetColumns = new Set(target.catalog.columns.map((c) => c.name));
    const lost = table.columns.filter((c) => !targetColumns.has(c.name)).map((c) => c.name);
    if (lost.length) throw new LifecycleError(`${table.name}: this database has no column ${lost.join(', ')}; the archive's values would be lost`, 1);
    const archived = new Set(table.columns.map((c) => c.name));
    const missing = target.catalog.columns.filter((c) => c.notNull && !c.hasDefault && !archived.has(c.name) && target.rule.fill?.[c.name] === undefined && !target.rule.importValue?.[c.name]);
    if (missing.length) throw new LifecycleError(`${table.name}: the archive has no value for required column ${missing.map((c) => c.name).join(', ')}`, 1);
    out.set(table.name, importBatchSql(target, table.columns, ctx));
  }
  return out;
}

/**
 * Creates the tenant (PREPARING: not served until verified) and a checkpoint per table, or finds the
 * one an earlier run of the same import created. The slug may be taken back from the tombstone of the
 * very tenant the archive was exported from (an erased account brought back); any other holder, or a
 * tenant with this id that is no import of this archive, is a conflict.
 */
async function ensureTenant(orm: Orm, manifest: ArchiveManifest, tenantId: string, slug: string): Promise<'created' | 'resumed' | 'imported'> {
  return inTenant(orm, tenantId, async (em) => {
    const existing = await em.findOne(Tenant, tenantId, { lockMode: LockMode.PESSIMISTIC_WRITE });
    if (existing) {
      const { rows } = await txQuery<{ export_id: string }>(em, 'select distinct export_id from "tenant_import_checkpoint" where tenant_id = $1', [tenantId]);
      if (rows.length !== 1 || rows[0].export_id !== manifest.exportId) throw new LifecycleError(`A tenant with id ${tenantId} exists and is no import of this archive`, 3);
      return existing.status === TenantStatus.READY ? 'imported' : 'resumed';
    }
    const { rows: holders } = await txQuery<{ id: string; status: TenantStatus }>(em, 'select id, status from "tenant" where slug = $1 for update', [slug]);
    const holder = holders[0];
    if (holder) {
      if (holder.id !== manifest.tenant.id || holder.status !== TenantStatus.DELETED) throw new LifecycleError(`The slug "${slug}" is taken: import with --as-slug`, 3);
      // The tombstone keeps its slug in `deletion`; its row gives the name up (a slug no request can name).
      await txQuery(em, `update "tenant" set slug = '~' || replace(id::text, '-', '') where id = $1`, [holder.id]);
    }
    const tenant = em.create(Tenant, {
      id: tenantId,
      name: manifest.tenant.name,
      slug,
      isActive: manifest.tenant.isActive,
      status: TenantStatus.PREPARING,
      preparationStartedAt: new Date(),
      createdAt: new Date(manifest.tenant.createdAt),
    });
    await em.flush();
    await txQuery(
      em,
      `insert into "tenant_import_checkpoint" (tenant_id, table_name, export_id) select $1, t, $2 from unnest($3::text[]) t`,
      [tenantId, manifest.exportId, manifest.tables.map((t) => t.name)],
    );
    await publishStatus(em, tenant);
    return 'created';
  });
}

function readCheckpoints(orm: Orm, tenantId: string): Promise<Checkpoint[]> {
  return inTenant(orm, tenantId, async (em) => (await txQuery<Checkpoint>(em, 'select * from "tenant_import_checkpoint" where tenant_id = $1', [tenantId])).rows);
}

/** A table checksum from its summed halves, as src/migrate/verify.ts folds them. */
const fold = (hi: string, lo: string) => createHash('md5').update(`${hi}:${lo}`).digest('hex');

/** What differs, per table: the archive read against its manifest, the new tenant's rows against what was inserted. */
async function verifyImport(orm: Orm, tenantId: string, manifest: ArchiveManifest, plan: LifecyclePlan): Promise<string[]> {
  const checkpoints = new Map((await readCheckpoints(orm, tenantId)).map((c) => [c.table_name, c]));
  return inTenant(orm, tenantId, async (em: EntityManager) => {
    const failures: string[] = [];
    for (const table of manifest.tables) {
      const c = checkpoints.get(table.name)!;
      const archiveRows = Number(c.archive_rows);
      if (archiveRows !== table.rows) failures.push(`${table.name}: ${archiveRows} rows in the archive, ${table.rows} in its manifest`);
      else if (fold(c.archive_sum_hi, c.archive_sum_lo) !== table.checksum) failures.push(`${table.name}: the archive's rows do not match the manifest's checksum`);
      const target = plan.tables.find((t) => t.table === table.name)!;
      const { rows } = await txQuery<{ rows: string; checksum: string }>(em, digestSql(table.name, target.catalog.columns), [tenantId]);
      if (Number(rows[0].rows) !== Number(c.inserted_rows)) failures.push(`${table.name}: ${rows[0].rows} rows in the tenant, ${c.inserted_rows} inserted`);
      else if (rows[0].checksum !== fold(c.inserted_sum_hi, c.inserted_sum_lo)) failures.push(`${table.name}: the tenant's rows differ from those inserted`);
    }
    return failures;
  });
}

/** READY (verified) or FAILED (with what differs), with its event and an audit event, in one transaction. */
async function finishImport(orm: Orm, tenantId: string, manifest: ArchiveManifest, failures: readonly string[]): Promise<void> {
  await inTenant(orm, tenantId, async (em) => {
    const tenant = await em.findOneOrFail(Tenant, tenantId, { lockMode: LockMode.PESSIMISTIC_WRITE });
    if (failures.length) {
      tenant.status = TenantStatus.FAILED;
      tenant.statusError = `Import verification failed: ${failures.join('; ')}`.slice(0, 2000);
    } else {
      tenant.status = TenantStatus.READY;
      tenant.statusError = null;
      tenant.preparationCompletedAt = new Date();
      await txQuery(em, 'update "tenant_import_checkpoint" set done = true, updated_at = now() where tenant_id = $1', [tenantId]);
      em.create(AuditEvent, { action: 'tenant.import', tenantId, target: `archive ${manifest.exportId} of ${manifest.tenant.id} (${manifest.tenant.slug})` });
    }
    await em.flush();
    await publishStatus(em, tenant);
  });
}
