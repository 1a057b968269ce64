import type { Orm } from '../db/orm.js';
import { advanceCheckpoint, type Checkpoint } from './checkpoints.js';
import { recordNote } from './notes.js';
import { recordSkippedRows } from './skippedRows.js';
import type { Snapshot } from './source.js';
import { qi, txQuery } from './sql.js';
import type { TenantSql } from './tenantSql.js';
import { platformWrite } from './write.js';

export interface CopyContext {
  readonly orm: Orm;
  readonly snap: Snapshot;
  readonly sql: TenantSql;
  readonly tenantId: string;
  /** Rows per transaction (and so per checkpoint step), over one or several tables. */
  readonly batchSize: number;
  /** Leave out rows that are not valid (--skip-orphans with problems). */
  readonly filterInvalid: boolean;
  /** After each committed transaction: rows it inserted, per table (skipped rows are not copied rows). */
  readonly onRows: (table: string, rows: number) => void;
  readonly onTableDone: (table: string, result: CopyResult) => void;
}

export interface CopyResult {
  readonly inserted: number;
  /**
   * Rows left out as invalid (rows without id included). Valid rows already in the target (only when
   * checkpoints were lost) are neither inserted nor skipped: not inserted twice, and a note says so.
   */
  readonly skipped: number;
  readonly checkpoint: Checkpoint;
}

interface TableState {
  readonly table: string;
  /** No legacy table: nothing to copy, only the checkpoint to record. */
  readonly absent: boolean;
  checkpoint: Checkpoint;
  inserted: number;
  skipped: number;
}

/**
 * Copies tables of one tenant (parents first) from their checkpoints to the end, in keyset batches
 * over the legacy id.
 *
 * A batch is one source query (ids mapped to uuids and the rows rendered as one JSON document in SQL:
 * nothing per row in JavaScript) and one set-based `INSERT … SELECT FROM json_to_recordset`. Each
 * transaction (`platformWrite`: audited, platform role) takes batches until `batchSize` rows, moving
 * on to the next table when one ends, so a small tenant is one transaction, and moves each table's
 * checkpoint with its rows, the rows it skipped (--skip-orphans) and the rows it found there already:
 * a kill anywhere leaves no duplicate and no gap, in the target and in the report alike.
 */
export async function copyTables(ctx: CopyContext, tasks: readonly { table: string; start: Checkpoint; absent: boolean }[]): Promise<Map<string, CopyResult>> {
  const states: TableState[] = tasks
    .filter((t) => !t.start.done)
    .map((t) => ({ table: t.table, absent: t.absent, checkpoint: t.start, inserted: 0, skipped: 0 }));
  const statements = new Map(states.filter((s) => !s.absent).map((s) => [s.table, buildStatements(ctx, s.table)]));
  const results = new Map<string, CopyResult>();
  let i = 0;
  while (i < states.length) {
    const first = states[i];
    const inserted: [string, number][] = [];
    const finished: TableState[] = [];
    await platformWrite(
      ctx.orm,
      { action: 'migrate.copy', tenantId: ctx.tenantId, target: `${ctx.sql.schema}: ${first.table} after legacy id ${first.checkpoint.lastLegacyId ?? '-'}, up to ${ctx.batchSize} rows` },
      async (tx) => {
        let budget = ctx.batchSize;
        while (budget > 0 && i < states.length) {
          const st = states[i];
          if (st.absent) {
            st.checkpoint = await advanceCheckpoint(tx, ctx.tenantId, ctx.sql.schema, st.checkpoint, { lastLegacyId: null, rows: 0, skipInvalid: false, done: true });
            finished.push(st);
            i++;
            continue;
          }
          const { batchSql, insertSql, withoutIdSql } = statements.get(st.table)!;
          const [batch] = await ctx.snap.query<BatchRow>(batchSql, [st.checkpoint.lastLegacyId, budget]);
          const { affected } = batch.kept > 0 ? await txQuery(tx, insertSql, [ctx.tenantId, batch.rows]) : { affected: 0 };
          const done = batch.n < budget;
          // What the batch skipped and found already there is recorded with the checkpoint that moves past it.
          if (batch.n > batch.kept) await recordSkippedRows(tx, ctx.tenantId, st.table, batch.skipped);
          if (batch.kept > affected) await recordNote(tx, ctx.tenantId, { kind: 'already-present', table: st.table, rows: batch.kept - affected });
          if (done && withoutIdSql) {
            const [withoutId] = await ctx.snap.query<{ n: number; skipped: string }>(withoutIdSql);
            if (withoutId.n > 0) await recordSkippedRows(tx, ctx.tenantId, st.table, withoutId.skipped);
            st.skipped += withoutId.n;
          }
          st.checkpoint = await advanceCheckpoint(tx, ctx.tenantId, ctx.sql.schema, st.checkpoint, {
            lastLegacyId: batch.last_id,
            rows: affected,
            skipInvalid: ctx.filterInvalid,
            done,
          });
          st.inserted += affected;
          st.skipped += batch.n - batch.kept;
          budget -= batch.n;
          if (affected > 0) inserted.push([st.table, affected]);
          if (done) {
            finished.push(st);
            i++;
          }
        }
      },
    ).catch((err: unknown) => {
      throw new Error(`copying ${states[Math.min(i, states.length - 1)].table}: ${(err as Error).message}`, { cause: err });
    });
    for (const [table, n] of inserted) ctx.onRows(table, n);
    for (const st of finished) {
      const result = { inserted: st.inserted, skipped: st.skipped, checkpoint: st.checkpoint };
      results.set(st.table, result);
      ctx.onTableDone(st.table, result);
    }
  }
  return results;
}

/** What one batch query returns: rows covered, the last legacy id, rows kept, and both as JSON arrays. */
interface BatchRow {
  readonly n: number;
  readonly last_id: string | null;
  readonly kept: number;
  /** The kept rows, mapped to target rows. */
  readonly rows: string;
  /** The rows left out (`TenantSql.skippedJson`). */
  readonly skipped: string;
}

/**
 * The statements of one table. Keyset batches walk the legacy ids, so rows without an id (never
 * valid: the id is required) are not in any batch; with --skip-orphans `withoutIdSql` records them
 * when the table is done.
 */
function buildStatements(ctx: CopyContext, table: string): { batchSql: string; insertSql: string; withoutIdSql: string | null } {
  const { sql } = ctx;
  const b = sql.alias('b');
  const m = sql.alias('m');
  const s = sql.alias('s');
  const keep = ctx.filterInvalid ? `${b}."__tenantry_ok"` : 'true';
  const skipped = ctx.filterInvalid ? `coalesce(json_agg(${sql.skippedJson(table, b, `${b}."__tenantry_row"`)}) filter (where not ${keep}), '[]')::text` : `'[]'`;
  const batchSql = `
    select count(*)::int as n, max(${b}."id")::text as last_id, count(*) filter (where ${keep})::int as kept,
           coalesce(json_agg(${sql.copyJson(table, b, m)}) filter (where ${keep}), '[]')::text as rows,
           ${skipped} as skipped
      from (select ${s}.*${ctx.filterInvalid ? `, ${sql.valid(table, s)} as "__tenantry_ok", ${s} as "__tenantry_row"` : ''}
              from ${sql.from(table)} ${s}
             where ${s}."id" is not null and ($1::bigint is null or ${s}."id" > $1::bigint)
             order by ${s}."id" limit $2) ${b}
      ${sql.lateral(table, b, m)}`;
  const cols = sql.mapping(table).columns.map((c) => c.target);
  const insertSql = `
    insert into ${qi(table)} ("tenant_id", ${cols.map((c) => qi(c.name)).join(', ')})
    select $1::uuid, ${cols.map((c) => `r.${qi(c.name)}`).join(', ')}
      from json_to_recordset($2::json) as r(${cols.map((c) => `${qi(c.name)} ${c.type}`).join(', ')})
    on conflict ("tenant_id", "id") do nothing`;
  const w = sql.alias('w');
  const withoutIdSql = ctx.filterInvalid
    ? `select count(*)::int as n, coalesce(json_agg(${sql.skippedJson(table, w, w)}), '[]')::text as skipped from ${sql.from(table)} ${w} where ${w}."id" is null`
    : null;
  return { batchSql, insertSql, withoutIdSql };
}
