import type { EntityManager } from '@mikro-orm/postgresql';
import type { Orm } from '../db/orm.js';
import { inTenant } from '../filters/inTenant.js';
import { txQuery } from './sql.js';

/** A legacy row `--skip-orphans` left out, as stored. */
export interface StoredSkippedRow {
  readonly table: string;
  /** Null for a legacy row without id. */
  readonly legacyId: string | null;
  /** `kind:column`, e.g. `orphan:customer_id`. */
  readonly reasons: readonly string[];
  /** The legacy row as it is. */
  readonly row: unknown;
}

/**
 * Records skipped rows in `migration_skipped_row`, in the transaction of the batch (and checkpoint)
 * that skipped them: a row is recorded exactly when the checkpoint has moved past it, so a killed run
 * loses nothing and a re-run, starting after the checkpoint, records nothing twice (and if checkpoints
 * were lost, a row recorded before is kept once, as the copy keeps rows already in the target).
 * `entries` is the JSON array the batch query rendered (`TenantSql.skippedJson`): nothing passes
 * through JavaScript.
 */
export async function recordSkippedRows(tx: EntityManager, tenantId: string, table: string, entries: string): Promise<void> {
  await txQuery(
    tx,
    `insert into "migration_skipped_row" ("tenant_id", "table_name", "legacy_id", "reasons", "row")
     select $1::uuid, $2, r."legacy_id", r."reasons", r."row"
       from json_to_recordset($3::json) as r("legacy_id" bigint, "reasons" text[], "row" json)
     on conflict ("tenant_id", "table_name", "legacy_id") do nothing`,
    [tenantId, table, entries],
  );
}

/**
 * Every row skipped for a tenant, by every run that migrated it: tables in `tables` order, then by
 * legacy id. Read as the tenant itself (inTenant: filter and RLS, no bypass).
 */
export function readSkippedRows(orm: Orm, tenantId: string, tables: readonly string[]): Promise<StoredSkippedRow[]> {
  return inTenant(orm, tenantId, async (em) => {
    const { rows } = await txQuery<{ table_name: string; legacy_id: string | null; reasons: string[]; row: unknown }>(
      em,
      `select s."table_name", s."legacy_id"::text, s."reasons", s."row" from "migration_skipped_row" s
        where s."tenant_id" = $1
        order by array_position($2::text[], s."table_name"::text), s."legacy_id", s."row"::text`,
      [tenantId, tables],
    );
    return rows.map((r) => ({ table: r.table_name, legacyId: r.legacy_id, reasons: r.reasons, row: r.row }));
  });
}
