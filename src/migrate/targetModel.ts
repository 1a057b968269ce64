import type { EntityClass } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Orm } from '../db/orm.js';
import { TENANT_ENTITIES } from '../entities/index.js';
import { UsageError } from './errors.js';
import { txQuery } from './sql.js';

/** How a value is compared and checked: decides the canonical form used by the checksum. */
export type ValueCategory = 'uuid' | 'text' | 'number' | 'timestamptz' | 'timestamp' | 'date' | 'boolean' | 'enum' | 'other';

export interface TargetColumn {
  readonly name: string;
  /** `format_type` with modifiers, e.g. `character varying(64)`, `order_status`. */
  readonly type: string;
  readonly category: ValueCategory;
  readonly notNull: boolean;
  readonly hasDefault: boolean;
  /** varchar/char length limit. */
  readonly maxLength: number | null;
  readonly enumLabels: readonly string[] | null;
  /** Value range of smallint/integer columns (bigint and numeric: null). */
  readonly intRange: readonly [string, string] | null;
}

export interface TargetForeignKey {
  /** The column besides `tenant_id`, e.g. `customer_id`. */
  readonly column: string;
  readonly parentTable: string;
}

export interface TargetTable {
  /** Entity class name, what `--model` takes. */
  readonly entity: string;
  readonly table: string;
  /** Every column but `tenant_id`, in table order. */
  readonly columns: readonly TargetColumn[];
  readonly foreignKeys: readonly TargetForeignKey[];
  /** Unique keys minus `tenant_id` (per-tenant uniques), e.g. [['sku']]. */
  readonly uniqueKeys: readonly (readonly string[])[];
}

/** Tenant-owned tables the migrator computes instead of copying. */
export const DERIVED_TABLES = new Set(['order_counter']);

/**
 * The copyable tenant-owned tables, parents before children (the order of TENANT_ENTITIES), described
 * from the live target catalog: the database, not a second copy of the DDL, says what a valid row is.
 */
export async function loadTargetModel(orm: Orm): Promise<TargetTable[]> {
  const metadata = orm.getMetadata();
  const wanted = TENANT_ENTITIES.map((entity) => metadata.get<object>(entity as EntityClass<object>)).filter((m) => !DERIVED_TABLES.has(m.tableName));
  const tables = wanted.map((m) => m.tableName);
  const em = orm.em.fork() as EntityManager;
  return em.transactional(async (tx) => {
    const { rows: columns } = await txQuery<{
      table: string; name: string; type: string; base: string; typtype: string; typcategory: string;
      not_null: boolean; has_default: boolean; max_length: number | null; enum_labels: string[] | null;
    }>(
      tx,
      `select c.relname as "table", a.attname as name, format_type(a.atttypid, a.atttypmod) as type,
              format_type(a.atttypid, null) as base, t.typtype, t.typcategory, a.attnotnull as not_null,
              a.atthasdef as has_default,
              case when a.atttypid in ('varchar'::regtype, 'bpchar'::regtype) and a.atttypmod > 0 then a.atttypmod - 4 end as max_length,
              case when t.typtype = 'e' then (select array_agg(e.enumlabel::text order by e.enumsortorder) from pg_enum e where e.enumtypid = t.oid) end as enum_labels
         from pg_attribute a
         join pg_class c on c.oid = a.attrelid
         join pg_type t on t.oid = a.atttypid
        where c.oid = any (select to_regclass(quote_ident(n)) from unnest($1::text[]) n)
          and a.attnum > 0 and not a.attisdropped
        order by c.relname, a.attnum`,
      [tables],
    );
    const { rows: keys } = await txQuery<{ table: string; kind: 'f' | 'u'; columns: string[]; parent: string | null }>(
      tx,
      `select c.conrelid::regclass::text as "table", 'f' as kind, p.relname as parent,
              array(select a.attname::text from unnest(c.conkey) with ordinality k(n, i)
                      join pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.n order by k.i) as columns
         from pg_constraint c join pg_class p on p.oid = c.confrelid
        where c.contype = 'f' and c.conrelid = any (select to_regclass(quote_ident(n)) from unnest($1::text[]) n)
       union all
       select i.indrelid::regclass::text, 'u', null,
              array(select a.attname::text from unnest(i.indkey) with ordinality k(n, o)
                      join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.n order by k.o)
         from pg_index i
        where i.indisunique and not i.indisprimary and i.indexprs is null and i.indpred is null
          and i.indrelid = any (select to_regclass(quote_ident(n)) from unnest($1::text[]) n)`,
      [tables],
    );
    return wanted.map((meta): TargetTable => {
      const table = meta.tableName;
      const unquoted = (name: string) => name.replace(/^"(.*)"$/, '$1');
      const tableKeys = keys.filter((k) => unquoted(k.table) === table);
      return {
        entity: meta.className,
        table,
        columns: columns
          .filter((c) => c.table === table && c.name !== 'tenant_id')
          .map((c) => ({
            name: c.name,
            type: c.type,
            category: categoryOf(c.base, c.typtype, c.typcategory),
            notNull: c.not_null,
            hasDefault: c.has_default,
            maxLength: c.max_length,
            enumLabels: c.enum_labels,
            intRange: c.base === 'integer' ? ['-2147483648', '2147483647'] : c.base === 'smallint' ? ['-32768', '32767'] : null,
          })),
        foreignKeys: tableKeys
          .filter((k) => k.kind === 'f' && k.parent !== 'tenant' && k.columns.length === 2 && k.columns[0] === 'tenant_id')
          .map((k) => ({ column: k.columns[1], parentTable: k.parent! })),
        uniqueKeys: tableKeys
          .filter((k) => k.kind === 'u')
          .map((k) => k.columns.filter((c) => c !== 'tenant_id'))
          .filter((cols) => cols.length > 0),
      };
    });
  });
}

/** The category of a column from its base type (`format_type` without modifiers) and its pg_type's typtype and typcategory. */
export function categoryOf(base: string, typtype: string, typcategory: string): ValueCategory {
  if (typtype === 'e') return 'enum';
  if (base === 'uuid') return 'uuid';
  if (base === 'timestamp with time zone') return 'timestamptz';
  if (base === 'timestamp without time zone') return 'timestamp';
  if (base === 'date') return 'date';
  if (base === 'boolean') return 'boolean';
  if (typcategory === 'N') return 'number';
  if (typcategory === 'S') return 'text';
  return 'other';
}

/**
 * The tables `--model` names (entity class names like `OrderLine`, or table names, any case); every
 * copyable table when none is given.
 */
export function resolveModels(model: readonly TargetTable[], names: readonly string[]): Set<string> {
  if (names.length === 0) return new Set(model.map((t) => t.table));
  const picked = new Set<string>();
  for (const name of names) {
    const key = name.toLowerCase();
    const t = model.find((m) => m.entity.toLowerCase() === key || m.table === key);
    if (!t) {
      const derived = key === 'ordercounter' || DERIVED_TABLES.has(key);
      throw new UsageError(
        derived
          ? `${name} is not copied: the order counter is computed from the migrated orders`
          : `Unknown model "${name}"; one of: ${model.map((m) => m.entity).join(', ')}`,
      );
    }
    picked.add(t.table);
  }
  return new Set(model.filter((t) => picked.has(t.table)).map((t) => t.table)); // parents first
}
