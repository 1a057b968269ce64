import type { EntityManager } from '@mikro-orm/postgresql';
import path from 'node:path';
import { TenantEvents } from '../jobs/tenantEvents.js';
import { txQuery } from '../migrate/sql.js';

/** The states of an export, in the order it goes through them (the GraphQL enum `TenantExportStatus` is built from these). */
export const EXPORT_STATUSES = ['QUEUED', 'RUNNING', 'READY', 'FAILED', 'EXPIRED'] as const;
export type ExportStatus = (typeof EXPORT_STATUSES)[number];

/** An export the API ran (table `tenant_export`), as its subscribers and its download see it. */

export interface ExportRecord {
  readonly id: string;
  readonly tenantId: string;
  readonly status: ExportStatus;
  readonly rows: number;
  readonly totalRows: number | null;
  readonly bytes: number | null;
  readonly sha256: string | null;
  readonly error: string | null;
  readonly createdAt: Date;
  readonly startedAt: Date | null;
  readonly finishedAt: Date | null;
  readonly expiresAt: Date;
}

/** A status after which an export changes no more (but for expiring). */
export const isFinal = (status: ExportStatus) => status === 'READY' || status === 'FAILED' || status === 'EXPIRED';

const COLUMNS = `id, tenant_id as "tenantId", status, rows::float8 as rows, total_rows::float8 as "totalRows", bytes::float8 as bytes, sha256, error,
                 created_at as "createdAt", started_at as "startedAt", finished_at as "finishedAt", expires_at as "expiresAt"`;

type Row = Omit<ExportRecord, 'createdAt' | 'startedAt' | 'finishedAt' | 'expiresAt'> & Record<'createdAt' | 'startedAt' | 'finishedAt' | 'expiresAt', string | Date | null>;

/** The ORM's connections hand timestamps over as text: dates here. */
function toRecord(row: Row | undefined): ExportRecord | null {
  if (!row) return null;
  const date = (v: string | Date | null) => (v === null ? null : new Date(v));
  return { ...row, createdAt: date(row.createdAt)!, startedAt: date(row.startedAt), finishedAt: date(row.finishedAt), expiresAt: date(row.expiresAt)! };
}

/** The archive of an export: `<EXPORT_DIR>/<tenant id>/<export id>.tar.gz` (the tenant's folder goes when it is erased). */
export const exportFile = (dir: string, tenantId: string, exportId: string) => path.join(dir, tenantId, `${exportId}.tar.gz`);

/** Reads an export in `em`'s scope: the tenant's own (inTenant), or the platform's (asPlatform: by id alone). */
export async function readExport(em: EntityManager, exportId: string): Promise<ExportRecord | null> {
  const { rows } = await txQuery<Row>(em, `select ${COLUMNS} from "tenant_export" where id = $1`, [exportId]);
  return toRecord(rows[0]);
}

export async function insertExport(em: EntityManager, tenantId: string, exportId: string, requestedBy: string | null, retentionHours: number): Promise<ExportRecord> {
  const { rows } = await txQuery<Row>(
    em,
    `insert into "tenant_export" (tenant_id, id, requested_by, expires_at) values ($1, $2, $3, now() + make_interval(hours => $4)) returning ${COLUMNS}`,
    [tenantId, exportId, requestedBy, retentionHours],
  );
  await announce(em, tenantId, exportId);
  return toRecord(rows[0])!;
}

/**
 * Moves an export on, only from the statuses in `from` (a late or repeated job changes nothing that
 * settled meanwhile), and tells its subscribers at commit. Returns the record, or null when it was not
 * in one of those statuses (or no longer exists: its tenant was erased).
 */
export async function updateExport(
  em: EntityManager,
  tenantId: string,
  exportId: string,
  from: readonly ExportStatus[],
  set: Partial<Record<'status' | 'rows' | 'total_rows' | 'bytes' | 'sha256' | 'error' | 'started_at' | 'finished_at', unknown>>,
): Promise<ExportRecord | null> {
  const entries = Object.entries(set);
  const { rows } = await txQuery<Row>(
    em,
    `update "tenant_export" set ${entries.map(([column], i) => `${column} = $${i + 4}`).join(', ')}
      where tenant_id = $1 and id = $2 and status = any($3::text[]) returning ${COLUMNS}`,
    [tenantId, exportId, from, ...entries.map(([, value]) => value)],
  );
  if (rows[0]) await announce(em, tenantId, exportId);
  return toRecord(rows[0]);
}

function announce(em: EntityManager, tenantId: string, exportId: string): Promise<void> {
  return TenantEvents.publish(em, { type: 'export', tenantId, exportId });
}
