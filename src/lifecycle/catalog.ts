import type { EntityManager } from '@mikro-orm/postgresql';
import { categoryOf, type ValueCategory } from '../migrate/targetModel.js';
import { txQuery } from '../migrate/sql.js';
import { CREDENTIAL_COLUMN, TABLE_RULES, type TableRule } from './tables.js';

export interface CatalogColumn {
  readonly name: string;
  /** `format_type` with modifiers: what json_to_recordset reads the archive's values as. */
  readonly type: string;
  readonly category: ValueCategory;
  readonly notNull: boolean;
  readonly hasDefault: boolean;
}

export interface CatalogForeignKey {
  readonly columns: readonly string[];
  readonly parentTable: string;
  readonly parentColumns: readonly string[];
}

/** A table holding `tenant_id`, as the database catalog describes it. */
export interface CatalogTable {
  readonly name: string;
  /** Every column but `tenant_id`, in table order. */
  readonly columns: readonly CatalogColumn[];
  readonly primaryKey: readonly string[];
  readonly foreignKeys: readonly CatalogForeignKey[];
  /** Some index leads with `tenant_id`: a tenant's rows are found without reading everyone's. */
  readonly tenantIndexed: boolean;
}

/** How an imported value is computed from the archive's. */
export type ColumnRole =
  | { readonly kind: 'value' }
  /** The row's own id, or a foreign key to `table`: remapped to the id that row gets. */
  | { readonly kind: 'id'; readonly table: string }
  /** Remapped like a foreign key to `table` when the imported tenant has that row, else kept. */
  | { readonly kind: 'id-if-imported'; readonly table: string };

/** One table's part in export, erase and import. */
export interface TablePlan {
  readonly table: string;
  readonly catalog: CatalogTable;
  readonly rule: TableRule;
  /** Exported columns, in table order; null when the table is not exported (`notExportedWhy`). */
  readonly exported: readonly CatalogColumn[] | null;
  readonly notExportedWhy: string | null;
  /** Per exported column. */
  readonly roles: ReadonlyMap<string, ColumnRole>;
}

export interface LifecyclePlan {
  /** Every table holding `tenant_id`, parents before children (import order; erase runs it backwards). */
  readonly tables: readonly TablePlan[];
  /** Tables the lifecycle cannot handle safely, and why: export and import refuse to run while any is. */
  readonly uncovered: readonly { readonly table: string; readonly reason: string }[];
}

export class UncoveredTablesError extends Error {
  constructor(uncovered: LifecyclePlan['uncovered']) {
    super(`The lifecycle does not cover every table holding tenant_id: ${uncovered.map((u) => `${u.table} (${u.reason})`).join('; ')}. Add a rule in src/lifecycle/tables.ts.`);
    this.name = 'UncoveredTablesError';
  }
}

/**
 * Every table of the public schema with a `tenant_id` column, from the database catalog (not from the
 * entities, not from a list): a table added by any migration is in it the moment it exists. Run in
 * any transaction; the catalog is readable by every role.
 */
export async function readCatalog(em: EntityManager): Promise<CatalogTable[]> {
  const { rows: tables } = await txQuery<{ name: string }>(
    em,
    `select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = 'public' and c.relkind in ('r', 'p')
        and exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped)
      order by 1`,
  );
  const names = tables.map((t) => t.name);
  const { rows: columns } = await txQuery<{ table: string; name: string; type: string; base: string; typtype: string; typcategory: string; not_null: boolean; has_default: boolean }>(
    em,
    `select c.relname as "table", a.attname as name, format_type(a.atttypid, a.atttypmod) as type, format_type(a.atttypid, null) as base,
            t.typtype, t.typcategory, a.attnotnull as not_null, a.atthasdef as has_default
       from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace join pg_type t on t.oid = a.atttypid
      where n.nspname = 'public' and c.relname = any($1::text[]) and a.attnum > 0 and not a.attisdropped
      order by c.relname, a.attnum`,
    [names],
  );
  const { rows: keys } = await txQuery<{ table: string; kind: 'p' | 'f'; columns: string[]; parent: string | null; parent_columns: string[] | null }>(
    em,
    `select c.relname as "table", k.contype as kind, p.relname as parent,
            array(select a.attname::text from unnest(k.conkey) with ordinality x(n, i) join pg_attribute a on a.attrelid = k.conrelid and a.attnum = x.n order by x.i) as columns,
            case when k.contype = 'f' then array(select a.attname::text from unnest(k.confkey) with ordinality x(n, i) join pg_attribute a on a.attrelid = k.confrelid and a.attnum = x.n order by x.i) end as parent_columns
       from pg_constraint k join pg_class c on c.oid = k.conrelid join pg_namespace n on n.oid = c.relnamespace left join pg_class p on p.oid = k.confrelid
      where n.nspname = 'public' and c.relname = any($1::text[]) and k.contype in ('p', 'f')`,
    [names],
  );
  const { rows: indexed } = await txQuery<{ table: string }>(
    em,
    `select distinct c.relname as "table" from pg_index i join pg_class c on c.oid = i.indrelid join pg_namespace n on n.oid = c.relnamespace
       join pg_attribute a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
      where n.nspname = 'public' and c.relname = any($1::text[]) and a.attname = 'tenant_id'`,
    [names],
  );
  const tenantIndexed = new Set(indexed.map((r) => r.table));
  return names.map((name) => ({
    name,
    columns: columns
      .filter((c) => c.table === name && c.name !== 'tenant_id')
      .map((c) => ({ name: c.name, type: c.type, category: categoryOf(c.base, c.typtype, c.typcategory), notNull: c.not_null, hasDefault: c.has_default })),
    primaryKey: keys.find((k) => k.table === name && k.kind === 'p')?.columns ?? [],
    foreignKeys: keys.filter((k) => k.table === name && k.kind === 'f').map((k) => ({ columns: k.columns, parentTable: k.parent!, parentColumns: k.parent_columns! })),
    tenantIndexed: tenantIndexed.has(name),
  }));
}

/**
 * Export, erase and import of every table of `catalog`, parents first, and the tables none of them can
 * handle safely. Erase covers any table with a primary key and an index leading with `tenant_id`.
 * Export and import cover a table unless a credential-looking column is neither omitted nor kept by its
 * rule, a required column would be missing on import, a foreign key points at a table that is not
 * exported, or its primary key could not be remapped (neither leading with `tenant_id` nor a uuid).
 */
export function planLifecycle(catalog: readonly CatalogTable[], rules: Readonly<Record<string, TableRule>> = TABLE_RULES): LifecyclePlan {
  const byName = new Map(catalog.map((t) => [t.name, t]));
  const uncovered: { table: string; reason: string }[] = [];
  const plans = new Map<string, TablePlan>();
  for (const table of catalog) {
    const rule = rules[table.name] ?? {};
    const problems: string[] = [];
    if (table.primaryKey.length === 0) problems.push('no primary key to erase it by, in batches');
    if (!table.tenantIndexed) problems.push("no index leading with tenant_id: every batch would read every tenant's rows");
    const omitted = new Set(rule.omit?.columns ?? []);
    const exported = rule.notExported ? null : table.columns.filter((c) => !omitted.has(c.name));
    const roles = new Map<string, ColumnRole>();
    if (exported) {
      const kept = new Set(rule.keep?.columns ?? []);
      for (const c of exported) if (CREDENTIAL_COLUMN.test(c.name) && !kept.has(c.name)) problems.push(`column ${c.name} looks like a credential: omit it or keep it`);
      for (const c of table.columns) {
        if (omitted.has(c.name) && c.notNull && !c.hasDefault && !rule.fill?.[c.name]) problems.push(`required column ${c.name} is not exported and has no fill for import`);
      }
      const pk = table.primaryKey;
      const ownIds = pk.filter((k) => k !== 'tenant_id' && table.columns.find((c) => c.name === k)?.category === 'uuid');
      if (pk.length > 0 && !pk.includes('tenant_id') && ownIds.length === 0) problems.push('primary key neither leads with tenant_id nor is a uuid: an imported copy could collide');
      for (const k of ownIds) roles.set(k, { kind: 'id', table: table.name });
      for (const fk of table.foreignKeys) {
        if (fk.parentTable === 'tenant') continue;
        if (!byName.has(fk.parentTable)) continue; // a shared table: ids kept as they are
        const parentRule = rules[fk.parentTable] ?? {};
        if (parentRule.notExported) problems.push(`foreign key to ${fk.parentTable}, which is not exported`);
        fk.columns.forEach((col, i) => {
          if (col !== 'tenant_id' && fk.parentColumns[i] !== 'tenant_id') roles.set(col, { kind: 'id', table: fk.parentTable });
        });
      }
      for (const [col, parent] of Object.entries(rule.remapIfImported ?? {})) roles.set(col, { kind: 'id-if-imported', table: parent });
    }
    for (const p of problems) uncovered.push({ table: table.name, reason: p });
    plans.set(table.name, { table: table.name, catalog: table, rule, exported, notExportedWhy: rule.notExported ?? null, roles });
  }
  return { tables: parentsFirst([...plans.values()]), uncovered };
}

/** Kahn's algorithm over foreign keys and `after` rules; ties by name, so the order is stable. */
function parentsFirst(plans: TablePlan[]): TablePlan[] {
  const names = new Set(plans.map((p) => p.table));
  const deps = new Map(
    plans.map((p) => [
      p.table,
      new Set([...p.catalog.foreignKeys.map((fk) => fk.parentTable), ...(p.rule.after ?? [])].filter((t) => t !== p.table && names.has(t))),
    ]),
  );
  const out: TablePlan[] = [];
  const byName = new Map(plans.map((p) => [p.table, p]));
  while (deps.size > 0) {
    const ready = [...deps].filter(([, d]) => [...d].every((t) => !deps.has(t))).map(([t]) => t).sort();
    if (ready.length === 0) throw new Error(`foreign keys form a cycle among ${[...deps.keys()].join(', ')}`);
    for (const t of ready) {
      out.push(byName.get(t)!);
      deps.delete(t);
    }
  }
  return out;
}
