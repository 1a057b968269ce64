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
 */
export async function findRows<T extends object>(
  em: EntityManager,
  entity: EntityClass<T>,
  where: FilterQuery<T>,
  options: { readonly orderBy?: QueryOrderMap<T>; readonly limit?: number } = {},
): Promise<RowOf<T>[]> {
  const qb = em.createQueryBuilder(entity).select('*').where(where as never);
  if (options.orderBy) qb.orderBy(options.orderBy as never);
  if (options.limit !== undefined) qb.limit(options.limit);
  await qb.applyFilters();
  const rows = (await qb.execute('all')) as Record<string, unknown>[];
  const relations = toOneRelations(em.getMetadata().get(entity));
  for (const row of rows) {
    for (const [name, idAt] of relations) {
      const key = row[name];
      if (key !== null && key !== undefined) row[name] = { id: Array.isArray(key) ? key[idAt] : key };
    }
  }
  return rows as unknown as RowOf<T>[];
}

const toOneCache = new WeakMap<EntityMetadata, readonly (readonly [string, number])[]>();

/** Each to-one relation of `meta` with the position of `id` in its target's primary key. */
function toOneRelations(meta: EntityMetadata): readonly (readonly [string, number])[] {
  let relations = toOneCache.get(meta);
  if (!relations) {
    relations = meta.relations
      .filter((p) => p.kind === ReferenceKind.MANY_TO_ONE || (p.kind === ReferenceKind.ONE_TO_ONE && p.owner))
      .map((p) => [p.name, Math.max(0, p.targetMeta!.primaryKeys.indexOf('id'))] as const);
    toOneCache.set(meta, relations);
  }
  return relations;
}
