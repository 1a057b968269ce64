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
  readonly customer: DataLoader<string, CustomerRow | null>;
  readonly product: DataLoader<string, ProductRow | null>;
  readonly orderLines: DataLoader<string, OrderLineRow[]>;
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
    orderLines: new DataLoader(async (orderIds) => {
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
  return new DataLoader(async (ids: readonly string[]) => keyed(ids, await findRows<T>(em, entity, anyId('id', ids))));
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
