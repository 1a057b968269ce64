import type { EntityManager } from '@mikro-orm/postgresql';
import { txQuery } from './sql.js';

/**
 * Where the copy of one tenant's table stands: every legacy id up to `lastLegacyId` (in legacy id
 * order) is in the target, none above it. Written in the same transaction as the batch it records.
 */
export interface Checkpoint {
  readonly table: string;
  readonly lastLegacyId: string | null;
  readonly rowsCopied: number;
  readonly skipInvalid: boolean;
  readonly done: boolean;
  readonly verifiedAt: Date | null;
  /** Whether the row exists (false: nothing copied yet). */
  readonly persisted: boolean;
}

export class CheckpointConflictError extends Error {
  constructor(tenantId: string, table: string) {
    super(`Checkpoint of ${table} (tenant ${tenantId}) moved under us: is another migrate-schemas running?`);
    this.name = 'CheckpointConflictError';
  }
}

/** The checkpoints of one tenant, by table. Read in that tenant's scope (`inTenant`: the table is under RLS). */
export async function readCheckpoints(em: EntityManager, tenantId: string): Promise<Map<string, Checkpoint>> {
  const { rows } = await txQuery<{ table_name: string; last_legacy_id: string | null; rows_copied: string; skip_invalid: boolean; done: boolean; verified_at: Date | null }>(
    em,
    `select table_name, last_legacy_id::text, rows_copied, skip_invalid, done, verified_at from "migration_checkpoint" where tenant_id = $1`,
    [tenantId],
  );
  return new Map(
    rows.map((r) => [
      r.table_name,
      { table: r.table_name, lastLegacyId: r.last_legacy_id, rowsCopied: Number(r.rows_copied), skipInvalid: r.skip_invalid, done: r.done, verifiedAt: r.verified_at, persisted: true },
    ]),
  );
}

/** Where a table starts that has no checkpoint row yet. */
export function initialCheckpoint(table: string): Checkpoint {
  return { table, lastLegacyId: null, rowsCopied: 0, skipInvalid: false, done: false, verifiedAt: null, persisted: false };
}

/**
 * Moves the checkpoint from `previous` to the batch's end (creating the row on the first batch),
 * refusing, and so rolling the batch back, when the stored checkpoint is no longer `previous`: two
 * runs can never both commit the same range.
 */
export async function advanceCheckpoint(
  em: EntityManager,
  tenantId: string,
  schema: string,
  previous: Checkpoint,
  next: { lastLegacyId: string | null; rows: number; skipInvalid: boolean; done: boolean },
): Promise<Checkpoint> {
  const { rows } = previous.persisted
    ? await txQuery<{ rows_copied: string }>(
        em,
        `update "migration_checkpoint"
            set last_legacy_id = coalesce($3::bigint, last_legacy_id), rows_copied = rows_copied + $4, skip_invalid = skip_invalid or $5,
                done = $6, source_schema = $8, updated_at = now(), verified_at = null
          where tenant_id = $1 and table_name = $2 and last_legacy_id is not distinct from $7::bigint and not done
        returning rows_copied::text`,
        [tenantId, previous.table, next.lastLegacyId, next.rows, next.skipInvalid, next.done, previous.lastLegacyId, schema],
      )
    : await txQuery<{ rows_copied: string }>(
        em,
        `insert into "migration_checkpoint" (tenant_id, table_name, source_schema, last_legacy_id, rows_copied, skip_invalid, done)
         values ($1, $2, $3, $4::bigint, $5, $6, $7)
         on conflict (tenant_id, table_name) do nothing
         returning rows_copied::text`,
        [tenantId, previous.table, schema, next.lastLegacyId, next.rows, next.skipInvalid, next.done],
      );
  if (rows.length === 0) throw new CheckpointConflictError(tenantId, previous.table);
  return {
    table: previous.table,
    lastLegacyId: next.lastLegacyId ?? previous.lastLegacyId,
    rowsCopied: Number(rows[0].rows_copied),
    skipInvalid: previous.skipInvalid || next.skipInvalid,
    done: next.done,
    verifiedAt: null,
    persisted: true,
  };
}

export async function markVerified(em: EntityManager, tenantId: string, tables: readonly string[]): Promise<void> {
  await txQuery(em, `update "migration_checkpoint" set verified_at = now() where tenant_id = $1 and table_name = any($2::text[]) and done`, [tenantId, tables]);
}
