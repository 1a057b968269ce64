/**
 * The SQL the GraphQL layer writes itself: the lists' conditions (read through `findRows` and
 * `countRows`, which add the tenant filter), and, where MikroORM's queries do not fit, set-based reads
 * and counters. `?` placeholders (MikroORM's). Each runs in the unit of work's transaction, in the
 * tenant's scope (RLS on; the statement also names the tenant where it writes) or, for platform reads,
 * through `asPlatform`.
 */

/** Products whose sku or name matches: a `likePattern` twice. */
export const PRODUCTS_MATCHING = 'sku ilike ? or name ilike ?';
/** Products after a page's last sku (the cursor). */
export const PRODUCTS_AFTER = 'sku > ?';
/** Customers whose name or email matches: a `likePattern` twice. */
export const CUSTOMERS_MATCHING = 'name ilike ? or email ilike ?';
/** Customers after a page's last (name, id) (the cursor): name, name, id. */
export const CUSTOMERS_AFTER = 'name > ? or (name = ? and id > ?)';
/** Orders in a status. */
export const ORDERS_IN_STATUS = 'status = ?';
/** Orders numbered below a page's last number (the cursor; newest first). */
export const ORDERS_BEFORE = 'number < ?';

/**
 * Takes the tenant's next order number: the counter row's update holds its lock until the order's
 * transaction ends. Params: tenant id.
 */
export const NEXT_ORDER_NUMBER = `insert into order_counter (tenant_id, id, last_number) values (?, gen_random_uuid(), 1)
  on conflict (tenant_id) do update set last_number = order_counter.last_number + 1
  returning last_number`;

/**
 * Every tenant with its customers, and its orders, revenue and last order over [from, to) with
 * CANCELLED left out: per-tenant aggregates joined onto the tenant list in one statement.
 * Params: from, from, to, to (each may be null: no bound).
 */
export const TENANT_REPORT = `select t.*, coalesce(c.n, 0)::int as report_customers, coalesce(o.n, 0)::int as report_orders,
       coalesce(o.revenue, 0)::bigint as report_revenue, o.last_at as report_last_order_at
  from tenant t
  left join (select tenant_id, count(*) as n from customer group by tenant_id) c on c.tenant_id = t.id
  left join (select tenant_id, count(*) as n, sum(total_cents) as revenue, max(created_at) as last_at
               from "order"
              where status <> 'CANCELLED'
                and (?::timestamptz is null or created_at >= ?::timestamptz)
                and (?::timestamptz is null or created_at < ?::timestamptz)
              group by tenant_id) o on o.tenant_id = t.id
 order by t.created_at desc, t.id desc`;

/** A tenant's status with the snapshot the statement read it in. */
const STATUS_COLUMNS = 'id, status, status_error, is_active, pg_current_snapshot()::text as snap';

/** One tenant's status and snapshot. Params: tenant id. */
export const TENANT_STATUS = `select ${STATUS_COLUMNS} from tenant where id = ?`;

/**
 * The tenants an all-tenants status stream must (re)check: every one not READY, the given ids, those
 * created since a time. Params: ids as a uuid array literal, since (may be null).
 */
export const TENANT_STATUS_CANDIDATES = `select ${STATUS_COLUMNS} from tenant
  where status <> 'READY' or id = any(?::uuid[]) or created_at >= ?::timestamptz
  order by created_at, id`;

/** The current snapshot, when no row carried one. */
export const CURRENT_SNAPSHOT = 'select pg_current_snapshot()::text as snap';

/** How many orders each customer has. Params: tenant id, customer ids (a list). */
export const ORDER_COUNT_PER_CUSTOMER = 'select customer_id, count(*)::int as n from "order" where tenant_id = ? and customer_id in (?) group by customer_id';

/**
 * A page of each customer's orders in one statement: a window function numbers each customer's orders,
 * newest number first, below a number when one is given. Params: tenant id, customer ids (a list),
 * before, before (null: from the newest), rows per customer.
 */
export const ORDERS_PER_CUSTOMER = `select tenant_id, id, number, status, customer_id, total_cents, created_at from (
    select o.*, row_number() over (partition by o.customer_id order by o.number desc) as rank
      from "order" o
     where o.tenant_id = ? and o.customer_id in (?) and (?::int is null or o.number < ?::int)
  ) ranked where rank <= ? order by customer_id, number desc`;
