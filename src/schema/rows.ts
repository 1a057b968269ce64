import { type EntityClass, type EntityMetadata, type FilterQuery, type QueryOrderMap, ReferenceKind } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Customer } from '../entities/Customer.js';
import type { Order, OrderStatus } from '../entities/Order.js';
import type { OrderLine } from '../entities/OrderLine.js';
import type { Product } from '../entities/Product.js';

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

/** A condition on the table's own columns as SQL, its values bound (see `anyId`). */
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
 */
export async function findRows<T extends object>(
  em: EntityManager,
  entity: EntityClass<T>,
  where: FilterQuery<T> | SqlCondition,
  options: FindRowsOptions<T> = {},
): Promise<RowOf<T>[]> {
  const shape = shapeOf(em.getMetadata().get(entity));
  const { fields } = options;
  const qb = em.createQueryBuilder(entity).select((fields ? shape.properties.filter((p) => p === 'id' || fields.has(p)) : shape.properties) as never);
  // An empty condition still costs MikroORM a criteria pass.
  if (isSqlCondition(where)) qb.where(where.sql, [...where.params]);
  else if (Object.keys(where).length > 0) qb.where(where as never);
  if (options.orderBy) qb.orderBy(options.orderBy as never);
  if (options.limit !== undefined) qb.limit(options.limit);
  await qb.applyFilters();
  const rows = (await qb.execute('all')) as Record<string, unknown>[];
  for (const row of rows) {
    for (const [name, idAt] of shape.toOne) {
      const key = row[name];
      if (key !== null && key !== undefined) row[name] = { id: Array.isArray(key) ? key[idAt] : key };
    }
  }
  return rows as unknown as RowOf<T>[];
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

function isSqlCondition(where: object): where is SqlCondition {
  return typeof (where as SqlCondition).sql === 'string' && Array.isArray((where as SqlCondition).params);
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
