import type { EntityMetadata, QueryOrderMap } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';

/**
 * Statement templates for `findRows` (src/schema/rows.ts): what MikroORM's QueryBuilder compiles for a
 * shape of read, compiled once per process with stand-ins where the values go, then bound per read.
 */

/** What a read's statement is made of, values aside. */
export interface ReadShape<T> {
  readonly columns: readonly string[];
  /** The SQL condition's text and how many `?` it has. */
  readonly whereSql: string;
  readonly whereParams: number;
  /** The properties of the filter's condition, each a value of its own. */
  readonly filterKeys: readonly string[];
  readonly orderBy?: QueryOrderMap<T>;
  readonly limited: boolean;
}

/** Where a template's parameter comes from. */
type TemplateParam =
  | { readonly kind: 'where'; readonly at: number }
  | { readonly kind: 'filter'; readonly key: string }
  | { readonly kind: 'limit' }
  | { readonly kind: 'constant'; readonly value: unknown };

export interface Template {
  readonly sql: string;
  readonly params: readonly TemplateParam[];
}

/** Stand-ins for the values while a template is compiled: no value of a read holds a NUL, no page is this long. */
const whereMarker = (at: number) => `\u0000where:${at}`;
const filterMarker = (key: string) => `\u0000filter:${key}`;
const LIMIT_MARKER = Number.MAX_SAFE_INTEGER;

const templates = new WeakMap<EntityMetadata, Map<string, Template>>();

/**
 * The QueryBuilder's statement for this shape, compiled with stand-ins where the values go and kept per
 * process: `readByQueryBuilder`'s steps in its order (the columns, the condition, the order, the limit,
 * then `andWhere` of the filter's condition, which is what `qb.applyFilters()` does), so the compiled
 * SQL is the same text and each stand-in names the parameter a value takes. Keys are made of code, not
 * input: the SQL conditions are written in src/schema/sql.ts, the columns a subset of the table's.
 */
export function templateFor<T extends object>(em: EntityManager, meta: EntityMetadata<T>, shape: ReadShape<T>): Template {
  let byKey = templates.get(meta as EntityMetadata);
  if (!byKey) templates.set(meta as EntityMetadata, (byKey = new Map()));
  const { columns, whereSql, whereParams, filterKeys, orderBy, limited } = shape;
  const key = `${columns.join(',')}|${whereSql}|${whereParams}|${filterKeys.join(',')}|${JSON.stringify(orderBy ?? null)}|${limited}`;
  let template = byKey.get(key);
  if (!template) {
    const qb = em.createQueryBuilder(meta.class).select(columns as never);
    qb.where(whereSql, Array.from({ length: whereParams }, (_, i) => whereMarker(i)));
    if (orderBy) qb.orderBy(orderBy as never);
    if (limited) qb.limit(LIMIT_MARKER);
    qb.andWhere(Object.fromEntries(filterKeys.map((k) => [k, filterMarker(k)])) as never);
    const wheres = new Map(Array.from({ length: whereParams }, (_, i) => [whereMarker(i), i]));
    const filters = new Map(filterKeys.map((k) => [filterMarker(k), k]));
    template = {
      sql: qb.getQuery(),
      params: qb.getParams().map((value): TemplateParam => {
        if (typeof value === 'string' && wheres.has(value)) return { kind: 'where', at: wheres.get(value)! };
        if (typeof value === 'string' && filters.has(value)) return { kind: 'filter', key: filters.get(value)! };
        if (value === LIMIT_MARKER) return { kind: 'limit' };
        return { kind: 'constant', value };
      }),
    };
    byKey.set(key, template);
  }
  return template;
}

/** A template's parameters for one read: its condition's values, its filter condition's, its limit. */
export function bind(template: Template, whereParams: readonly unknown[], filter: Readonly<Record<string, unknown>>, limit: number | undefined): unknown[] {
  return template.params.map((p) => (p.kind === 'where' ? whereParams[p.at] : p.kind === 'filter' ? filter[p.key] : p.kind === 'limit' ? limit : p.value));
}
