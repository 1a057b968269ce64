import { IsolationLevel } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Writable } from 'node:stream';
import type { Orm } from '../db/orm.js';
import { isGone, type TenantStatus } from '../entities/Tenant.js';
import { inTenant } from '../filters/inTenant.js';
import { txQuery } from '../migrate/sql.js';
import { ARCHIVE_FORMAT, ARCHIVE_VERSION, type ArchiveManifest, ArchiveWriter, CHECKSUM_ALGORITHM, PART_BYTES } from './archive.js';
import { type LifecyclePlan, planLifecycle, readCatalog, UncoveredTablesError } from './catalog.js';
import { tenantGone, unknownTenant } from './errors.js';
import { NO_PROGRESS, type TableProgress } from './progress.js';
import { digestSql, exportCursorSql } from './sql.js';

export interface ExportOptions {
  /** Unique per archive (the API's export id; the CLI makes one). */
  readonly exportId: string;
  /** This deployment's BASE_DOMAIN, recorded so an import can tell the tenant's own hostname. */
  readonly baseDomain: string;
  readonly progress?: TableProgress;
  /** Called once the manifest is written (it knows every table's row count). */
  readonly onManifest?: (manifest: ArchiveManifest) => void | Promise<void>;
  /** Rows per cursor fetch (2,000). With `partBytes`, what bounds the export's memory. */
  readonly fetchRows?: number;
  /** A part is written once it holds this many bytes of JSON lines (PART_BYTES). */
  readonly partBytes?: number;
}

export interface ExportResult {
  readonly manifest: ArchiveManifest;
  readonly bytes: number;
  readonly sha256: string;
}

/** The tenant row as an export records it. */
interface TenantRow {
  id: string;
  name: string;
  slug: string;
  status: TenantStatus;
  is_active: boolean;
  created_at: Date;
}

/**
 * Writes the archive of one tenant to `out` (docs/lifecycle.md): every table holding `tenant_id`
 * (src/lifecycle/catalog.ts) but those its rules keep out, read in ONE snapshot: a REPEATABLE READ,
 * READ ONLY transaction in the tenant's own scope (filter and RLS on; no escape hatch), so the manifest's
 * counts and checksums and the rows are of the same instant while the tenant goes on working. Rows come
 * through a server-side cursor, a fetch at a time, each fetch waiting for the archive stream to take the
 * previous one: memory stays flat whatever the tenant's size.
 */
export async function exportTenant(orm: Orm, tenantId: string, out: Writable, options: ExportOptions): Promise<ExportResult> {
  const progress = options.progress ?? NO_PROGRESS;
  const writer = new ArchiveWriter(out);
  try {
    const manifest = await inTenant(
      orm,
      tenantId,
      async (em) => {
        // One long read, bounded by the job's own time limit, not by the API's per-statement limits.
        await txQuery(em, 'set local statement_timeout = 0');
        await txQuery(em, 'set local idle_in_transaction_session_timeout = 0');
        const { rows } = await txQuery<TenantRow>(em, 'select id, name, slug, status, is_active, created_at from "tenant" where id = $1', [tenantId]);
        const tenant = rows[0];
        if (!tenant) throw unknownTenant(tenantId);
        if (isGone(tenant.status)) throw tenantGone(tenant.slug, tenant.status);
        const plan = planLifecycle(await readCatalog(em));
        if (plan.uncovered.length) throw new UncoveredTablesError(plan.uncovered);
        const manifest = await buildManifest(em, tenant, plan, options);
        await writer.manifest(manifest);
        await options.onManifest?.(manifest);
        for (const table of manifest.tables) {
          progress.table(table.name, table.rows);
          const sizes = { fetchRows: options.fetchRows ?? 2000, partBytes: options.partBytes ?? PART_BYTES };
          const written = await writeTable(em, writer, plan.tables.find((t) => t.table === table.name)!, tenantId, sizes, (n) => progress.rows(table.name, n));
          if (written !== table.rows) throw new Error(`${table.name}: ${written} rows streamed, ${table.rows} counted in the same snapshot`);
          progress.tableDone(table.name, written);
        }
        return manifest;
      },
      { isolationLevel: IsolationLevel.REPEATABLE_READ, readOnly: true },
    );
    return { manifest, ...(await writer.finish()) };
  } catch (err) {
    writer.abort(err as Error);
    throw err;
  }
}

/**
 * `exportTenant` into `file`, atomically: written as `<file>.partial` and renamed when complete, so a
 * run killed at any point leaves no file that looks whole (the next run starts over).
 */
export async function exportTenantToFile(orm: Orm, tenantId: string, file: string, options: ExportOptions): Promise<ExportResult> {
  await mkdir(path.dirname(path.resolve(file)), { recursive: true });
  const partial = `${file}.partial`;
  try {
    const result = await exportTenant(orm, tenantId, createWriteStream(partial, { mode: 0o600 }), options);
    await rename(partial, file);
    return result;
  } catch (err) {
    await rm(partial, { force: true });
    throw err;
  }
}

async function buildManifest(em: EntityManager, tenant: TenantRow, plan: LifecyclePlan, options: ExportOptions): Promise<ArchiveManifest> {
  const tables: ArchiveManifest['tables'][number][] = [];
  for (const t of plan.tables.filter((p) => p.exported)) {
    const columns = t.exported!.map((c) => ({ name: c.name, type: c.type, category: c.category }));
    const { rows } = await txQuery<{ rows: string; checksum: string }>(em, digestSql(t.table, columns), [tenant.id]);
    tables.push({ name: t.table, columns, rows: Number(rows[0].rows), checksum: rows[0].checksum });
  }
  return {
    format: ARCHIVE_FORMAT,
    version: ARCHIVE_VERSION,
    exportId: options.exportId,
    exportedAt: new Date().toISOString(),
    baseDomain: options.baseDomain,
    tenant: { id: tenant.id, name: tenant.name, slug: tenant.slug, status: tenant.status, isActive: tenant.is_active, createdAt: new Date(tenant.created_at).toISOString() },
    checksumAlgorithm: CHECKSUM_ALGORITHM,
    tables,
    omitted: plan.tables.flatMap((t): ArchiveManifest['omitted'][number][] =>
      t.notExportedWhy ? [{ table: t.table, columns: 'all', why: t.notExportedWhy }] : t.rule.omit ? [{ table: t.table, columns: t.rule.omit.columns, why: t.rule.omit.why }] : [],
    ),
  };
}

/** Streams one table through a cursor into parts of about `partBytes`; returns the rows written. */
async function writeTable(
  em: EntityManager,
  writer: ArchiveWriter,
  plan: LifecyclePlan['tables'][number],
  tenantId: string,
  { fetchRows, partBytes }: { fetchRows: number; partBytes: number },
  onRows: (n: number) => void,
): Promise<number> {
  const cursor = `export_${plan.table}`;
  await txQuery(em, exportCursorSql(cursor, plan), [tenantId]);
  let part = 0;
  let buffered: Buffer[] = [];
  let size = 0;
  let total = 0;
  const flush = async () => {
    if (size === 0) return;
    await writer.part(plan.table, ++part, buffered);
    buffered = [];
    size = 0;
  };
  for (;;) {
    const { rows } = await txQuery<{ line: string }>(em, `fetch forward ${fetchRows} from "${cursor}"`);
    if (rows.length === 0) break;
    const chunk = Buffer.from(`${rows.map((r) => r.line).join('\n')}\n`);
    buffered.push(chunk);
    size += chunk.length;
    total += rows.length;
    onRows(rows.length);
    if (size >= partBytes) await flush();
  }
  await flush();
  await txQuery(em, `close "${cursor}"`);
  return total;
}
