import type { EntityManager } from '@mikro-orm/postgresql';
import type { Orm } from '../db/orm.js';
import { inTenant } from '../filters/inTenant.js';
import { txQuery } from './sql.js';

/** Something a run did to a tenant that the summary must tell, whichever run it was. */
export type Note =
  /** The primary domain's hostname belongs to someone else: the tenant was created without one. */
  | { readonly kind: 'hostname-taken'; readonly hostname: string }
  /** Valid rows found already in the target (checkpoints were lost): not inserted twice. */
  | { readonly kind: 'already-present'; readonly table: string; readonly rows: number };

/**
 * Records a note in `migration_note`, in the transaction of the write it is about, so it outlives a
 * killed run. One row per kind and subject: rows add up over batches and runs.
 */
export async function recordNote(tx: EntityManager, tenantId: string, note: Note): Promise<void> {
  const [subject, rows] = note.kind === 'hostname-taken' ? [note.hostname, 0] : [note.table, note.rows];
  await txQuery(
    tx,
    `insert into "migration_note" ("tenant_id", "kind", "subject", "row_count") values ($1, $2, $3, $4)
     on conflict ("tenant_id", "kind", "subject") do update set "row_count" = "migration_note"."row_count" + excluded."row_count"`,
    [tenantId, note.kind, subject, rows],
  );
}

/** A tenant's notes from every run, oldest first, as the summary prints them. Read as the tenant. */
export function readNotes(orm: Orm, tenantId: string): Promise<string[]> {
  return inTenant(orm, tenantId, async (em) => {
    const { rows } = await txQuery<{ kind: Note['kind']; subject: string; row_count: string }>(
      em,
      `select "kind", "subject", "row_count"::text from "migration_note" where "tenant_id" = $1 order by "noted_at", "kind", "subject"`,
      [tenantId],
    );
    return rows.map((r) => describeNote(r.kind === 'hostname-taken' ? { kind: r.kind, hostname: r.subject } : { kind: r.kind, table: r.subject, rows: Number(r.row_count) }));
  });
}

export function describeNote(note: Note): string {
  return note.kind === 'hostname-taken'
    ? `hostname ${note.hostname} is taken: no primary domain created`
    : `${note.table}: ${note.rows} row(s) were already in the target (not inserted twice)`;
}
