import type { Checkpoint } from './checkpoints.js';
import { mapTable, type TableMapping } from './mapping.js';
import { type Problem, ROW_LEVEL } from './problems.js';
import type { LegacyTenant } from './registry.js';
import { readSourceSchema, type Snapshot } from './source.js';
import { qi } from './sql.js';
import type { TargetTable } from './targetModel.js';
import { TenantSql } from './tenantSql.js';

export interface TablePlan {
  readonly table: string;
  readonly entity: string;
  readonly mapping: TableMapping;
  /** Picked by --model (all tables without it). */
  readonly selected: boolean;
  readonly checkpoint: Checkpoint | undefined;
  /** Rows in the legacy table. */
  readonly sourceRows: number;
  /** Rows a real run would still copy now (after the checkpoint; valid rows only under --skip-orphans). */
  readonly toMove: number;
  /** Rows --skip-orphans leaves behind (themselves bad, or depending on a bad row). */
  readonly invalidRows: number;
  readonly problems: readonly Problem[];
}

export interface TenantPlan {
  readonly legacy: LegacyTenant;
  readonly tenantId: string;
  readonly sql: TenantSql;
  readonly tables: readonly TablePlan[];
  /** Everything found, tenant-level and per table. */
  readonly problems: readonly Problem[];
  /** The problems that stop this tenant, given the options. */
  readonly blocking: readonly Problem[];
  /** Whether copies must filter out invalid rows (--skip-orphans and some row is invalid). */
  readonly filterInvalid: boolean;
}

export interface PlanOptions {
  readonly selectedTables: ReadonlySet<string>;
  readonly skipOrphans: boolean;
  readonly ignoreUnknownColumns: boolean;
}

const SAMPLE = 5;

/**
 * Reads a legacy tenant schema (inside its snapshot) and finds, per target table: its mapping, row
 * counts, and every problem: shape (unknown or missing columns, non-integer ids), and rows (NULLs in
 * required columns, values the target cannot hold, orphaned foreign keys, duplicates of per-tenant
 * unique keys). Only reads.
 */
export async function planTenant(
  snap: Snapshot,
  legacy: LegacyTenant,
  tenantId: string,
  model: readonly TargetTable[],
  checkpoints: ReadonlyMap<string, Checkpoint>,
  options: PlanOptions,
): Promise<TenantPlan> {
  const { exists, tables: sourceTables } = await readSourceSchema(snap, legacy.schema);
  const mappings = new Map(model.map((t) => [t.table, mapTable(t, sourceTables.get(t.table) ?? null, options.ignoreUnknownColumns)]));
  const sql = new TenantSql(tenantId, legacy.schema, mappings);
  if (!exists) {
    const problem: Problem = { kind: 'missing-schema', detail: `schema "${legacy.schema}" does not exist in the legacy database` };
    return { legacy, tenantId, sql, tables: [], problems: [problem], blocking: [problem], filterInvalid: false };
  }

  const tables: TablePlan[] = [];
  for (const target of model) {
    const mapping = mappings.get(target.table)!;
    const checkpoint = checkpoints.get(target.table);
    const selected = options.selectedTables.has(target.table);
    const problems: Problem[] = [...mapping.shapeProblems];
    let sourceRows = 0;
    let toMove = 0;
    const canQuery = mapping.source !== null && mapping.columns.some((c) => c.role === 'id');
    if (canQuery && selected) {
      const counted = await countAndCheck(snap, sql, target.table, checkpoint);
      sourceRows = counted.total;
      toMove = checkpoint?.done ? 0 : counted.pending;
      problems.push(...counted.problems);
    } else if (mapping.source) {
      // Not picked, or its ids cannot be mapped (an id-type or missing id problem): the rows are
      // there all the same, and a blocked table still shows what it holds.
      sourceRows = Number((await snap.query<{ n: string }>(`select count(*) as n from ${sql.from(target.table)}`))[0].n);
      if (selected) toMove = checkpoint?.done ? 0 : Math.max(0, sourceRows - (checkpoint?.rowsCopied ?? 0));
    }
    if (selected) {
      for (const fk of target.foreignKeys) {
        const parentSelected = options.selectedTables.has(fk.parentTable);
        const parentDone = checkpoints.get(fk.parentTable)?.done ?? false;
        const parentInSource = mappings.get(fk.parentTable)?.source != null;
        if (!parentSelected && !parentDone && parentInSource) {
          const parent = model.find((m) => m.table === fk.parentTable)!;
          problems.push({ kind: 'dependency', table: target.table, column: fk.column, detail: `needs ${parent.entity} migrated first: add --model ${parent.entity}` });
        }
      }
    }
    tables.push({ table: target.table, entity: target.entity, mapping, selected, checkpoint, sourceRows, toMove, invalidRows: 0, problems });
  }

  const rowProblems = tables.some((t) => t.problems.some((p) => ROW_LEVEL.has(p.kind)));
  // Tables an earlier --skip-orphans run (perhaps with other --model) copied around bad rows: rows of
  // the other tables that hang off the rows it left out have no parent in the target.
  const skippedBefore = tables.some((t) => t.checkpoint?.skipInvalid);
  const filterInvalid = options.skipOrphans && (rowProblems || skippedBefore);
  if (rowProblems || skippedBefore) {
    // Transitive validity: what --skip-orphans would leave behind, children of bad rows included.
    for (const [i, t] of tables.entries()) {
      if (!t.selected || !t.mapping.source || !t.mapping.columns.some((c) => c.role === 'id')) continue;
      const s = sql.alias('s');
      const [r] = await snap.query<{ invalid: string; pending: string; sample: string[] | null }>(
        `select count(*) filter (where not v.ok) as invalid,
                count(*) filter (where v.ok and ($1::bigint is null or v.id > $1::bigint)) as pending,
                (array_agg(v.id::text order by v.id) filter (where not v.ok))[1:${SAMPLE}] as sample
           from (select ${s}."id" as id, ${sql.valid(t.table, s)} as ok from ${sql.from(t.table)} ${s}) v`,
        [t.checkpoint?.lastLegacyId ?? null],
      );
      const invalidRows = Number(r.invalid);
      const problems = [...t.problems];
      if (!options.skipOrphans && skippedBefore && !t.checkpoint?.done && invalidRows > 0 && !problems.some((p) => ROW_LEVEL.has(p.kind))) {
        problems.push({
          kind: 'orphan',
          table: t.table,
          detail: 'depend on rows an earlier --skip-orphans run left out: migrate with --skip-orphans',
          count: invalidRows,
          sampleIds: r.sample ?? [],
        });
      }
      tables[i] = { ...t, problems, invalidRows, toMove: t.checkpoint?.done ? 0 : filterInvalid ? Number(r.pending) : t.toMove };
    }
  }

  const problems = tables.flatMap((t) => t.problems);
  // A table already copied has nothing left to stop: its verification decides (with the mode it was
  // copied in), so a re-run without --skip-orphans does not fail a tenant migrated with it.
  const blocking = tables
    .filter((t) => t.selected && !t.checkpoint?.done)
    .flatMap((t) => t.problems)
    .filter((p) => !(options.skipOrphans && ROW_LEVEL.has(p.kind)));
  return { legacy, tenantId, sql, tables, problems, blocking, filterInvalid };
}

/** Row count, rows after the checkpoint, and the direct row-level problems of one table. */
async function countAndCheck(
  snap: Snapshot,
  sql: TenantSql,
  table: string,
  checkpoint: Checkpoint | undefined,
): Promise<{ total: number; pending: number; problems: Problem[] }> {
  const s = sql.alias('s');
  // One scan: NULLs, values, and foreign keys (a lookup of the parent's legacy primary key per row).
  const checks = [...sql.ownChecks(table, s), ...sql.fkChecks(table, s, false)];
  const [agg] = await snap.query<Record<string, string | string[] | null>>(
    `select count(*) as total,
            count(*) filter (where $1::bigint is null or ${s}."id" > $1::bigint) as pending
            ${checks.map((c, i) => `, count(*) filter (where ${c.sql}) as c${i}, (array_agg(${s}."id"::text order by ${s}."id") filter (where ${c.sql}))[1:${SAMPLE}] as s${i}`).join('')}
       from ${sql.from(table)} ${s}`,
    [checkpoint?.lastLegacyId ?? null],
  );
  const problems: Problem[] = [];
  checks.forEach((c, i) => {
    const count = Number(agg[`c${i}`]);
    if (count > 0) problems.push({ kind: c.kind, table, column: c.column, detail: c.detail, count, sampleIds: agg[`s${i}`] as string[] });
  });

  const mapping = sql.mapping(table);
  if (!mapping.source!.uniqueId) {
    // No primary key on the legacy id: two rows would map to one uuid (and keyset paging would skip).
    const [r] = await snap.query<{ n: string; ids: string[] | null }>(
      `select count(*) as n, (array_agg(id order by id))[1:${SAMPLE}] as ids
         from (select ${s}."id" as id from ${sql.from(table)} ${s} where ${s}."id" is not null group by ${s}."id" having count(*) > 1) d`,
    );
    if (Number(r.n) > 0) {
      problems.push({ kind: 'duplicate-id', table, column: 'id', detail: 'legacy id on more than one row (no primary key?)', count: Number(r.n), sampleIds: (r.ids ?? []).map(String) });
    }
  }
  const sourceOf = new Map(mapping.columns.map((c) => [c.target.name, c.source.name]));
  for (const key of mapping.target.uniqueKeys.filter((k) => k.every((c) => sourceOf.has(c)))) {
    const cols = key.map((k) => `${s}.${qi(sourceOf.get(k)!)}`);
    const [r] = await snap.query<{ n: string; ids: string[] | null }>(
      `select count(*) as n, (array_agg(id order by id::bigint))[1:${SAMPLE}] as ids
         from (select ${s}."id"::text as id, row_number() over (partition by ${cols.join(', ')} order by ${s}."id") as rn
                 from ${sql.from(table)} ${s} where ${cols.map((c) => `${c} is not null`).join(' and ')}) d
        where rn > 1`,
    );
    if (Number(r.n) > 0) {
      problems.push({ kind: 'duplicate', table, column: key.join(','), detail: `same ${key.join(', ')} as a row with a lower id (per-tenant unique in the target)`, count: Number(r.n), sampleIds: r.ids ?? [] });
    }
  }
  return { total: Number(agg.total), pending: Number(agg.pending), problems };
}
