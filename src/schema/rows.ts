import { type EntityClass, type EntityMetadata, type QueryOrderMap, ReferenceKind } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Customer } from '../entities/Customer.js';
import type { Order, OrderStatus } from '../entities/Order.js';
import type { OrderLine } from '../entities/OrderLine.js';
import type { Product } from '../entities/Product.js';
import { sendRead } from './readBatch.js';
import { bind, templateFor } from './statementTemplates.js';

/** A to-one relation as a row carries it: the referenced row's id (what a reference's `id` is too). */
export interface RowRef {
  readonly id: string;
}

// The rows `findRows` returns, by entity. Each entity satisfies its row's shape, so field resolvers
// taking a row also take the entity a mutation returns.
export interface ProductRow {
  readonly id: string;
  readonly sku: string;
  readonly name: string;
  readonly priceCents: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}
export interface CustomerRow {
  readonly id: string;
  readonly name: string;
  readonly email?: string | null;
  readonly createdAt: Date;
}
export interface OrderRow {
  readonly id: string;
  readonly number: number;
  readonly status: OrderStatus;
  readonly customer: RowRef;
  readonly totalCents: number;
  readonly createdAt: Date;
}
export interface OrderLineRow {
  readonly id: string;
  readonly order: RowRef;
  readonly product: RowRef;
  readonly quantity: number;
  readonly unitPriceCents: number;
}

type RowOf<T> = T extends OrderLine ? OrderLineRow : T extends Order ? OrderRow : T extends Product ? ProductRow : T extends Customer ? CustomerRow : never;

/**
 * A condition on the table's own columns as SQL, its values bound as `?` parameters (see `anyId`,
 * `allOf`). The text is written in code, never built from input: it is part of a statement template's
 * key (`templateFor`), and it is SQL.
 */
export interface SqlCondition {
  readonly sql: string;
  readonly params: readonly unknown[];
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * `<column> = any(<ids>)`, the ids bound as one array. Building `$in` through MikroORM's criteria costs
 * a few µs per value and gives every list length a statement of its own; this is one statement shape
 * for any number of ids. The ids come from rows or from validated input; each is checked again.
 */
export function anyId(column: 'id' | `${string}_id`, ids: readonly string[]): SqlCondition {
  for (const id of ids) if (!UUID.test(id)) throw new TypeError(`Not a uuid: ${id}`);
  return { sql: `${column} = any(?::uuid[])`, params: [`{${ids.join(',')}}`] };
}

/** How many rows meet `where`, through the tenant filter as `findRows` reads them (for a page's `totalCount`). */
export async function countRows<T extends object>(em: EntityManager, entity: EntityClass<T>, where: SqlCondition): Promise<number> {
  const qb = em.createQueryBuilder(entity).count().where(where.sql, [...where.params]);
  await qb.applyFilters();
  const row = (await qb.execute('get')) as { count: number | string };
  return Number(row.count);
}

/** Every one of the conditions (`null`s left out); none: every row. */
export function allOf(conditions: readonly (SqlCondition | null)[]): SqlCondition {
  const present = conditions.filter((c): c is SqlCondition => c !== null);
  if (present.length === 0) return { sql: 'true', params: [] };
  return { sql: present.map((c) => `(${c.sql})`).join(' and '), params: present.flatMap((c) => c.params) };
}

/**
 * Reads without entities, for the hot read paths (lists, pages, loaders): rows as plain objects keyed by
 * property name, each to-one relation as `{ id }` (the shape a reference has, so a field resolver reads
 * `order.customer.id` from a row and from an entity alike).
 *
 * The query is MikroORM's QueryBuilder on one table with the tenant filter applied exactly as `em.find`
 * applies it (`applyFilters`: the same filter definition reading the same scope, throwing without one),
 * and RLS underneath. What it skips is what made reads expensive: an entity per row, a reference per
 * relation (a composite-key reference per relation here), the identity map. Nothing read here is
 * managed, so nothing read here can be flushed: writes still load entities (and pass the write guard).
 * Columns are listed by name (not `*`), so the statement's result shape is fixed whatever a later
 * migration adds to the table.
 *
 * Inside a transaction (every unit of work is one) the statement comes from a template (`templateFor`):
 * the QueryBuilder's output for that shape of read, compiled once per process. The filter is still
 * evaluated for every read (`em.applyFilters`, what `qb.applyFilters()` calls) and its values bound into
 * the statement; what is saved is building and compiling the QueryBuilder, about a fifth of the CPU of
 * the orders page (bench/README.md). tests/schema/rows.test.ts holds the two to the same statement.
 * Template reads issued together travel together (src/schema/readBatch.ts).
 */
export async function findRows<T extends object>(em: EntityManager, entity: EntityClass<T>, where: SqlCondition, options: FindRowsOptions<T> = {}): Promise<RowOf<T>[]> {
  const meta = em.getMetadata().get(entity);
  const shape = shapeOf(meta);
  const { fields } = options;
  const columns = fields ? shape.properties.filter((p) => p === 'id' || fields.has(p)) : shape.properties;
  const rows = em.getTransactionContext() ? await readByTemplate(em, meta, columns, where, options) : await readByQueryBuilder(em, entity, columns, where, options);
  for (const row of rows) {
    for (const [name, idAt] of shape.toOne) {
      const key = row[name];
      if (key !== null && key !== undefined) row[name] = { id: Array.isArray(key) ? key[idAt] : key };
    }
  }
  return rows as unknown as RowOf<T>[];
}

/** The reference: the QueryBuilder, `applyFilters()`, MikroORM's execution. A template is this statement. */
async function readByQueryBuilder<T extends object>(em: EntityManager, entity: EntityClass<T>, columns: readonly string[], where: SqlCondition, options: FindRowsOptions<T>): Promise<Record<string, unknown>[]> {
  const qb = em.createQueryBuilder(entity).select(columns as never).where(where.sql, [...where.params]);
  if (options.orderBy) qb.orderBy(options.orderBy as never);
  if (options.limit !== undefined) qb.limit(options.limit);
  await qb.applyFilters();
  return (await qb.execute('all')) as Record<string, unknown>[];
}

/**
 * The statement `readByQueryBuilder` would send, from a template: the filter's condition is computed as
 * `qb.applyFilters()` computes it (and throws as it does without a scope), and the template is the one
 * compiled for a condition of the same shape (the same properties, each a value of its own), with this
 * condition's values, the SQL condition's values and the limit bound where the template has them.
 * A condition of any other shape is read through the QueryBuilder.
 */
async function readByTemplate<T extends object>(em: EntityManager, meta: EntityMetadata<T>, columns: readonly string[], where: SqlCondition, options: FindRowsOptions<T>): Promise<Record<string, unknown>[]> {
  const filter = ((await em.applyFilters(meta.class, {}, {}, 'read')) ?? {}) as Record<string, unknown>;
  const filterKeys = Object.keys(filter);
  // A platform scope's read (no condition) is not a hot path: the QueryBuilder takes it, as any other shape.
  if (filterKeys.length === 0 || Object.getOwnPropertyNames(filter).length !== filterKeys.length || !filterKeys.every((k) => typeof filter[k] === 'string')) {
    return readByQueryBuilder(em, meta.class, columns, where, options);
  }
  const template = templateFor(em, meta, { columns, whereSql: where.sql, whereParams: where.params.length, filterKeys, orderBy: options.orderBy, limited: options.limit !== undefined });
  const rows = await sendRead(em, template.sql, bind(template, where.params, filter, options.limit));
  const driver = em.getDriver();
  return rows.map((row) => driver.mapResult(row as never, meta) as Record<string, unknown>);
}

export interface FindRowsOptions<T> {
  readonly orderBy?: QueryOrderMap<T>;
  readonly limit?: number;
  /**
   * Only these properties (and `id`) are read; the rows hold no others. For a list a query asked for:
   * what it selects (`selectedFields`) and what its cursors are made of. Without: every column.
   */
  readonly fields?: ReadonlySet<string>;
}

interface RowShape {
  /** Every property stored in the table's columns (relations by their foreign key columns). */
  readonly properties: readonly string[];
  /** Each to-one relation with the position of `id` in its target's primary key. */
  readonly toOne: readonly (readonly [string, number])[];
}

const shapes = new WeakMap<EntityMetadata, RowShape>();

function shapeOf(meta: EntityMetadata): RowShape {
  let shape = shapes.get(meta);
  if (!shape) {
    const persisted = meta.props.filter((p) => p.persist !== false && p.fieldNames?.length && (p.kind === ReferenceKind.SCALAR || p.kind === ReferenceKind.MANY_TO_ONE || (p.kind === ReferenceKind.ONE_TO_ONE && p.owner)));
    shape = {
      properties: persisted.map((p) => p.name),
      toOne: persisted.filter((p) => p.kind !== ReferenceKind.SCALAR).map((p) => [p.name, Math.max(0, p.targetMeta!.primaryKeys.indexOf('id'))] as const),
    };
    shapes.set(meta, shape);
  }
  return shape;
}
