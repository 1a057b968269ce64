import type { EntityManager } from '@mikro-orm/postgresql';
import DataLoader from 'dataloader';
import type { Orm } from '../db/orm.js';
import { Customer } from '../entities/Customer.js';
import { Domain } from '../entities/Domain.js';
import { Order } from '../entities/Order.js';
import { OrderLine } from '../entities/OrderLine.js';
import { Product } from '../entities/Product.js';
import { Tenant } from '../entities/Tenant.js';
import { asPlatform } from '../filters/platform.js';
import { requireScopedTenantId } from '../filters/scope.js';
import { anyId, type CustomerRow, findRows, type OrderLineRow, type ProductRow } from './rows.js';
import { ORDER_COUNT_PER_CUSTOMER, ORDERS_PER_CUSTOMER } from './sql.js';

/**
 * Per-unit-of-work batching: each relation a resolver follows is one query per nesting level, whatever
 * the page size. Built fresh with every unit of work, so nothing cached crosses requests or tenants.
 */
export interface Loaders {
  readonly customer: RowLoader<CustomerRow | null>;
  readonly product: RowLoader<ProductRow | null>;
  readonly orderLines: RowLoader<OrderLineRow[]>;
  readonly tenant: DataLoader<string, Tenant | null>;
  readonly domains: DataLoader<string, Domain[]>;
  /** A page of each customer's orders (newest first, numbers below `before`), `limit` rows each. */
  customerOrders(limit: number, before: number | undefined): DataLoader<string, Order[]>;
  readonly customerOrderCount: DataLoader<string, number>;
}

/**
 * A superadmin's request: domains (tenant-tagged rows) of whatever tenants it lists are read through
 * the escape hatch, one audited transaction per batch. Everyone else reads them in the request's scope.
 */
export interface PlatformReader {
  readonly orm: Orm;
  readonly actorId: string;
}

export function createLoaders(em: EntityManager, platform?: PlatformReader): Loaders {
  const pages = new Map<string, DataLoader<string, Order[]>>();
  return {
    customerOrders(limit, before) {
      const key = `${limit}:${before ?? ''}`;
      let loader = pages.get(key);
      if (!loader) {
        loader = new DataLoader((ids) => ordersPerCustomer(em, ids, limit, before));
        pages.set(key, loader);
      }
      return loader;
    },
    customerOrderCount: new DataLoader(async (ids) => {
      const rows = await em.execute<{ customer_id: string; n: number }[]>(ORDER_COUNT_PER_CUSTOMER, [requireScopedTenantId('customer orders'), [...ids]]);
      const counts = new Map(rows.map((r) => [r.customer_id, r.n]));
      return ids.map((id) => counts.get(id) ?? 0);
    }),
    customer: rowsById(em, Customer),
    product: rowsById(em, Product),
    tenant: byId(em, Tenant),
    orderLines: new RowLoader(async (orderIds) => {
      const lines = await findRows(em, OrderLine, anyId('order_id', orderIds), { orderBy: { id: 'asc' } });
      return group(orderIds, lines, (l) => l.order.id);
    }),
    domains: new DataLoader(async (tenantIds) => {
      const read = (reader: EntityManager) => reader.find(Domain, { tenant: { $in: [...tenantIds] } }, { orderBy: { hostname: 'asc' } });
      const domains = platform
        ? await asPlatform(platform.orm, { action: 'domain.read', actorId: platform.actorId, tenantId: tenantIds.length === 1 ? tenantIds[0] : null, target: `${tenantIds.length} tenant(s)` }, read)
        : await read(em);
      return group(tenantIds, domains, (d) => d.tenant.id);
    }),
  };
}

/** One query for many customers' pages. Raw SQL, so it names the tenant itself; RLS would refuse other tenants' rows anyway. */
async function ordersPerCustomer(em: EntityManager, ids: readonly string[], limit: number, before: number | undefined): Promise<Order[][]> {
  const rows = await em.execute<Record<string, unknown>[]>(ORDERS_PER_CUSTOMER, [requireScopedTenantId('customer orders'), [...ids], before ?? null, before ?? null, limit]);
  const orders = rows.map((row) => em.map(Order, row));
  return group(ids, orders, (o) => o.customer.id);
}

function byId<T extends { id: string }>(em: EntityManager, entity: new () => T): DataLoader<string, T | null> {
  return new DataLoader(async (ids) => keyed(ids, (await em.find(entity, { id: { $in: [...ids] } } as never)) as T[]));
}

/** Rows by id, without entities (src/schema/rows.ts). */
function rowsById<T extends Customer | Product>(em: EntityManager, entity: new () => T) {
  return new RowLoader(async (ids) => keyed(ids, await findRows<T>(em, entity, anyId('id', ids))));
}

/**
 * A DataLoader whose values, once their batch is back, are also answered without a promise (`now`).
 *
 * graphql-js completes a field whose resolver returns a value in the same synchronous pass; a promise
 * costs it a trip through the microtask queue, and the object holding the field a `promiseForObject`.
 * On the orders page about a hundred fields follow relations (each order's customer and lines, each
 * line's product): a list resolver that `preload`s what its rows' relations will ask for (the same
 * batches, one statement per relation, the field resolvers would have caused) lets graphql-js walk the
 * whole page in one pass (bench/README.md, "What each lever bought").
 */
export class RowLoader<V> {
  readonly #loader: DataLoader<string, V>;
  /** Values of batches that came back (`null` for a key with no row; never `undefined`). */
  readonly #loaded = new Map<string, V>();

  constructor(batch: (keys: readonly string[]) => Promise<V[]>) {
    this.#loader = new DataLoader(async (keys) => {
      const values = await batch(keys);
      for (let i = 0; i < keys.length; i++) this.#loaded.set(keys[i], values[i]);
      return values;
    });
  }

  load(key: string): Promise<V> {
    return this.#loader.load(key);
  }

  /** The value if its batch is back, else its load (a failed batch's keys are not loaded: their `load` reports the failure). */
  now(key: string): V | Promise<V> {
    const value = this.#loaded.get(key);
    return value === undefined ? this.#loader.load(key) : value;
  }

  /**
   * Loads `keys` in one batch (with whatever else is loaded in this tick) and resolves to the values
   * that loaded. Never rejects: a failure is left for the fields that ask for those keys to report, at
   * their own paths, as they would have without the preload.
   */
  async preload(keys: readonly string[]): Promise<V[]> {
    const values = await this.#loader.loadMany(keys);
    return values.filter((v): v is V => !(v instanceof Error));
  }
}

function keyed<T extends { id: string }>(ids: readonly string[], rows: readonly T[]): (T | null)[] {
  const map = new Map(rows.map((r) => [r.id, r]));
  return ids.map((id) => map.get(id) ?? null);
}

function group<T>(keys: readonly string[], rows: T[], keyOf: (row: T) => string): T[][] {
  const map = new Map<string, T[]>(keys.map((k) => [k, []]));
  for (const row of rows) map.get(keyOf(row))?.push(row);
  return keys.map((k) => map.get(k)!);
}
