/**
 * The isolation matrix: tenant A, acting through every MikroORM access path, never sees or changes
 * tenant B's rows, in every tenant-owned entity; nor B's rows or the platform's (tenant null:
 * superadmins, their refresh tokens, platform audit events) in the tenant-tagged tables (users,
 * domains, refresh tokens, audit events, migration checkpoints).
 *
 * Each path runs in four modes, so every assertion is shown to depend on a wall that really exists:
 *
 * - `all walls`: the production path, `inTenant(orm, A, …)`: tenant filter + write guard + RLS.
 * - `ORM only`: tenant scope A (filter and write guard on), RLS lifted by taking the platform role.
 * - `RLS only`: filter lifted (platform scope), write guard removed (an ORM without the subscriber),
 *   `app.tenant_id = A` set as inTenant does.
 * - `no walls`: filter lifted, guard removed, platform role: the control. Every path must reach B's
 *   (or the platform's) rows here, otherwise the other modes' "untouched" would prove nothing.
 *
 * B's and the platform's rows are checked at the database through the superuser pool after every write.
 */
import { Collection, type EntityClass, ref } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { randomUUID } from 'node:crypto';
import { runInScope, TenantScopeMissingError } from '../../src/filters/scope.js';
import { createOrm, type Orm } from '../../src/db/orm.js';
import { PLATFORM_ROLE, TENANT_SETTING } from '../../src/db/roles.js';
import { AuditEvent, Customer, Domain, Order, OrderCounter, OrderLine, Product, RefreshToken, Role, Tenant, type TenantScoped, User } from '../../src/entities/index.js';
import { inTenant } from '../../src/filters/inTenant.js';
import { TENANT_FILTER } from '../../src/filters/tenantFilter.js';
import { TenantWriteRefusedError } from '../../src/filters/writeGuard.js';
import { allOf, anyId, countRows, findRows } from '../../src/schema/rows.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

// ---------------------------------------------------------------------------------------------------
// Fixture: two tenants, rows in every tenant-owned and tenant-tagged table, and platform rows (tenant
// null). `spare*` rows are referenced by nothing, so deleting or moving them is only stopped by the
// walls under test, not by a foreign key.

/** Whose rows: a tenant's, or the platform's (tenant null), in the tenant-tagged tables. */
interface Owner {
  readonly label: string;
  readonly tenant: string | null;
  readonly user: string;
  readonly spareUser: string;
  readonly refreshToken: string;
  readonly auditEvent: string;
}

interface TenantFixture extends Owner {
  readonly label: 'A' | 'B';
  readonly tenant: string;
  readonly product: string;
  readonly spareProduct: string;
  readonly customer: string;
  readonly spareCustomer: string;
  readonly order: string;
  readonly orderLine: string;
  readonly orderCounter: string;
  readonly domain: string;
  readonly spareDomain: string;
}

function fixture(label: 'A' | 'B'): TenantFixture {
  return {
    label,
    tenant: randomUUID(),
    product: randomUUID(),
    spareProduct: randomUUID(),
    customer: randomUUID(),
    spareCustomer: randomUUID(),
    order: randomUUID(),
    orderLine: randomUUID(),
    orderCounter: randomUUID(),
    user: randomUUID(),
    spareUser: randomUUID(),
    domain: randomUUID(),
    spareDomain: randomUUID(),
    refreshToken: randomUUID(),
    auditEvent: randomUUID(),
  };
}

const A = fixture('A');
const B = fixture('B');
/** Superadmins, one's refresh token, a platform audit event. */
const PLATFORM: Owner = { label: 'platform', tenant: null, user: randomUUID(), spareUser: randomUUID(), refreshToken: randomUUID(), auditEvent: randomUUID() };
/** Fixed, so a snapshot of B's rows taken after a reseed equals the first one. */
const SEEDED_AT = '2026-01-01T00:00:00Z';
const TABLES = ['product', 'customer', 'order', 'order_line', 'order_counter'] as const;
const TAGGED_TABLES = ['user', 'domain', 'refresh_token', 'audit_event', 'migration_checkpoint'] as const;
/** The tagged tables that hold platform rows (their tenant_id is nullable). */
const PLATFORM_TABLES = ['user', 'refresh_token', 'audit_event'] as const;

let db: TestDatabase;
/** The same ORM without the write guard: lets a mode drop that wall alone. */
let unguarded: Orm;
/** What A must never change: B's rows and the platform's, as seeded. */
let seededForeign: Record<string, Record<string, unknown[]>>;

async function seed(): Promise<void> {
  const client = await db.owner.connect();
  try {
    await client.query('begin');
    for (const table of ['order_line', 'order', 'product', 'customer', 'order_counter', 'refresh_token', 'user', 'domain', 'audit_event', 'migration_checkpoint']) {
      await client.query(`delete from "${table}"`);
    }
    for (const f of [A, B]) {
      const p = `insert into product (tenant_id, id, sku, name, price_cents, created_at, updated_at) values ($1, $2, $3, $4, 100, $5, $5)`;
      await client.query(p, [f.tenant, f.product, 'SKU-1', `Product ${f.label}`, SEEDED_AT]);
      await client.query(p, [f.tenant, f.spareProduct, `SPARE-${f.label}`, `Spare product ${f.label}`, SEEDED_AT]);
      const c = `insert into customer (tenant_id, id, name, email, created_at) values ($1, $2, $3, null, $4)`;
      await client.query(c, [f.tenant, f.customer, `Customer ${f.label}`, SEEDED_AT]);
      await client.query(c, [f.tenant, f.spareCustomer, `Spare customer ${f.label}`, SEEDED_AT]);
      await client.query(
        `insert into "order" (tenant_id, id, number, status, customer_id, total_cents, created_at) values ($1, $2, 1, 'OPEN', $3, 200, $4)`,
        [f.tenant, f.order, f.customer, SEEDED_AT],
      );
      await client.query(
        `insert into order_line (tenant_id, id, order_id, product_id, quantity, unit_price_cents) values ($1, $2, $3, $4, 2, 100)`,
        [f.tenant, f.orderLine, f.order, f.product],
      );
      await client.query(`insert into order_counter (tenant_id, id, last_number) values ($1, $2, 1)`, [f.tenant, f.orderCounter]);
      const d = `insert into domain (id, tenant_id, hostname, is_primary, is_active, verified_at, created_at) values ($1, $2, $3, $4, true, $5, $5)`;
      await client.query(d, [f.domain, f.tenant, `shop.${f.label.toLowerCase()}.example.com`, true, SEEDED_AT]);
      await client.query(d, [f.spareDomain, f.tenant, `spare.${f.label.toLowerCase()}.example.com`, false, SEEDED_AT]);
      await client.query(`insert into migration_checkpoint (tenant_id, table_name, source_schema, updated_at, started_at) values ($1, 'product', $2, $3, $3)`, [
        f.tenant,
        `legacy_${f.label.toLowerCase()}`,
        SEEDED_AT,
      ]);
    }
    for (const o of [A, B, PLATFORM]) {
      const role = o.tenant ? ['ADMIN', 'MEMBER'] : ['SUPERADMIN', 'SUPERADMIN'];
      const u = `insert into "user" (id, tenant_id, email, role, password_hash, created_at) values ($1, $2, $3, $4, 'x', $5)`;
      await client.query(u, [o.user, o.tenant, `user@${o.label.toLowerCase()}.example.com`, role[0], SEEDED_AT]);
      await client.query(u, [o.spareUser, o.tenant, `spare@${o.label.toLowerCase()}.example.com`, role[1], SEEDED_AT]);
      await client.query(
        `insert into refresh_token (id, tenant_id, user_id, family_id, token_hash, expires_at, created_at) values ($1, $2, $3, $1, $4, '2099-01-01', $5)`,
        [o.refreshToken, o.tenant, o.user, `hash-${o.label}`, SEEDED_AT],
      );
      await client.query(`insert into audit_event (id, action, tenant_id, at) values ($1, $2, $3, $4)`, [o.auditEvent, `seeded.${o.label}`, o.tenant, SEEDED_AT]);
    }
    await client.query('commit');
  } catch (err) {
    await client.query('rollback');
    throw err;
  } finally {
    client.release();
  }
}

/** Every row of tenant `tenantId` (null: the platform's) in every table holding a tenant_id, as the superuser sees it. */
async function rowsOf(tenantId: string | null): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  for (const table of tenantId ? [...TABLES, ...TAGGED_TABLES] : PLATFORM_TABLES) {
    const { rows } = await db.owner.query(`select to_jsonb(t) as row from "${table}" t where tenant_id is not distinct from $1 order by 1`, [tenantId]);
    out[table] = rows.map((r) => r.row);
  }
  return out;
}

/** B's rows and the platform's, as they are now. */
async function foreignRows(): Promise<Record<string, Record<string, unknown[]>>> {
  return { B: await rowsOf(B.tenant), platform: await rowsOf(null) };
}

beforeAll(async () => {
  db = await createTestDatabase();
  unguarded = await createOrm(db.appUrl, { subscribers: [] });
  for (const f of [A, B]) {
    await db.owner.query(`insert into tenant (id, name, slug, status, created_at) values ($1, $2, $3, 'READY', now())`, [
      f.tenant,
      `Tenant ${f.label}`,
      `tenant-${f.label.toLowerCase()}`,
    ]);
  }
  await seed();
  seededForeign = await foreignRows();
});

afterAll(async () => {
  await unguarded?.close();
  await db?.close();
});

// ---------------------------------------------------------------------------------------------------
// Modes

const MODES = ['all walls', 'ORM only', 'RLS only', 'no walls'] as const;
type Mode = (typeof MODES)[number];

/** Runs `fn` as one unit of work of tenant A with the walls of `mode`. */
function asTenantA<T>(mode: Mode, fn: (em: EntityManager) => Promise<T>): Promise<T> {
  switch (mode) {
    case 'all walls':
      return inTenant(db.orm, A.tenant, fn);
    case 'ORM only': {
      const em = db.orm.em.fork({ clear: true }) as EntityManager;
      em.setSessionContext({ role: PLATFORM_ROLE });
      return runInScope({ kind: 'tenant', tenantId: A.tenant }, () => em.transactional(fn));
    }
    case 'RLS only': {
      const em = unguarded.em.fork({ clear: true }) as EntityManager;
      em.setSessionContext({ variables: { [TENANT_SETTING]: A.tenant } });
      return runInScope({ kind: 'platform', reason: 'test: filter lifted' }, () => em.transactional(fn));
    }
    case 'no walls': {
      const em = unguarded.em.fork({ clear: true }) as EntityManager;
      em.setSessionContext({ role: PLATFORM_ROLE });
      return runInScope({ kind: 'platform', reason: 'test: control' }, () => em.transactional(fn));
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Entities under test

type Key = Exclude<keyof TenantFixture, 'label' | 'tenant'>;

interface EntitySpec {
  readonly name: string;
  readonly entity: EntityClass<TenantScoped>;
  /** The row targeted by by-key reads and writes (unreferenced where a FK would otherwise stop a delete). */
  readonly target: Key;
  /** A change to apply to that row. */
  readonly change: Record<string, unknown>;
  /**
   * Data for a new row in tenant `f` (without `tenant`), or null where a tenant can have only one. Complete,
   * because `em.insert` and `em.upsert` skip property initializers.
   */
  readonly create: ((f: TenantFixture) => Record<string, unknown>) | null;
}

const SPECS: EntitySpec[] = [
  {
    name: 'Product',
    entity: Product,
    target: 'spareProduct',
    change: { name: 'changed by A' },
    create: () => ({ sku: 'NEW-1', name: 'new', priceCents: 1, createdAt: new Date(), updatedAt: new Date() }),
  },
  {
    name: 'Customer',
    entity: Customer,
    target: 'spareCustomer',
    change: { name: 'changed by A' },
    create: () => ({ name: 'new', createdAt: new Date() }),
  },
  {
    name: 'Order',
    entity: Order,
    target: 'order',
    change: { totalCents: 1 },
    create: (f) => ({ number: 2, customer: [f.tenant, f.customer], totalCents: 1, createdAt: new Date() }),
  },
  {
    name: 'OrderLine',
    entity: OrderLine,
    target: 'orderLine',
    change: { quantity: 99 },
    create: (f) => ({ order: [f.tenant, f.order], product: [f.tenant, f.product], quantity: 1, unitPriceCents: 1 }),
  },
  // One counter per tenant (unique tenant_id): no second row can be created.
  { name: 'OrderCounter', entity: OrderCounter, target: 'orderCounter', change: { lastNumber: 99 }, create: null },
];

const pk = (spec: EntitySpec, f: TenantFixture) => ({ tenant: f.tenant, id: f[spec.target] });
const tenantIdOf = (row: { tenant?: { id: string } | string; tenant_id?: string }) =>
  row.tenant_id ?? (typeof row.tenant === 'string' ? row.tenant : row.tenant?.id);
const countOf = (rows: Iterable<{ tenant?: { id: string } | string; tenant_id?: string }>, f: TenantFixture) =>
  [...rows].filter((r) => tenantIdOf(r) === f.tenant).length;

// ---------------------------------------------------------------------------------------------------
// Reads: each path returns how many of tenant `f`'s rows it saw.

interface ReadPath {
  readonly name: string;
  /** Whether the MikroORM tenant filter applies to this path (else only RLS stops it). */
  readonly filtered: boolean;
  read(em: EntityManager, f: TenantFixture): Promise<number>;
}

/** The `orders` collection of tenant `f`'s customer, on a reference (nothing loaded). */
function ordersOf(em: EntityManager, f: TenantFixture, customer = em.getReference(Customer, [f.tenant, f.customer])): Collection<Order> {
  customer.orders ??= Collection.create<Order, Customer>(customer, 'orders', undefined, false);
  return customer.orders;
}

const READS: ReadPath[] = [
  ...SPECS.flatMap((spec): ReadPath[] => [
    { name: `${spec.name}: find (all rows)`, filtered: true, read: async (em, f) => countOf(await em.find(spec.entity, {}), f) },
    {
      name: `${spec.name}: findOne by primary key`,
      filtered: true,
      read: async (em, f) => ((await em.findOne(spec.entity, pk(spec, f))) ? 1 : 0),
    },
    { name: `${spec.name}: count by tenant`, filtered: true, read: (em, f) => em.count(spec.entity, { tenant: f.tenant }) },
    {
      name: `${spec.name}: lazy reference load`,
      filtered: true,
      read: async (em, f) => ((await em.getReference(spec.entity, [f.tenant, f[spec.target]], { wrapped: true }).load()) ? 1 : 0),
    },
    // The read path's lists and loaders (src/schema/rows.ts): a statement template compiled once per
    // process from the QueryBuilder with the filter applied; the first tenant's read compiles it, every
    // later read binds its own filter values into it.
    { name: `${spec.name}: rows without entities (all rows)`, filtered: true, read: async (em, f) => countOf(await findRows(em, spec.entity, allOf([])), f) },
    {
      name: `${spec.name}: rows without entities by id`,
      filtered: true,
      read: async (em, f) => (await findRows(em, spec.entity, anyId('id', [f[spec.target]]))).length,
    },
    // A page's totalCount (countRows: the QueryBuilder's count with the filter applied).
    { name: `${spec.name}: countRows by tenant`, filtered: true, read: (em, f) => countRows(em, spec.entity, { sql: 'tenant_id = ?', params: [f.tenant] }) },
  ]),
  ...(['select-in', 'joined'] as const).map(
    (strategy): ReadPath => ({
      name: `Customer → orders → lines → product: populate ${strategy}`,
      filtered: true,
      read: async (em, f) => {
        const customers = await em.find(Customer, {}, { populate: ['orders.lines.product'], strategy });
        const orders = customers.flatMap((c) => c.orders.getItems());
        const lines = orders.flatMap((o) => o.lines.getItems());
        const products = lines.map((l) => l.product.getEntity());
        return countOf([...customers, ...orders, ...lines, ...products], f);
      },
    }),
  ),
  {
    name: 'Order: condition through a relation (customer name)',
    filtered: true,
    read: async (em, f) => countOf(await em.find(Order, { customer: { name: `Customer ${f.label}` } }), f),
  },
  {
    name: 'Order: condition on a relation key (customer)',
    filtered: true,
    read: async (em, f) => countOf(await em.find(Order, { customer: [f.tenant, f.customer] }), f),
  },
  // A reference carries no collections of its own; `Collection.create` gives it one, as hydration would.
  {
    name: 'Customer.orders: collection init',
    filtered: true,
    read: async (em, f) => countOf(await ordersOf(em, f).init(), f),
  },
  {
    name: 'Customer.orders: loadCount',
    filtered: true,
    read: (em, f) => ordersOf(em, f).loadCount(),
  },
  {
    name: 'Customer → orders: em.populate on a reference',
    filtered: true,
    read: async (em, f) => {
      const customer = em.getReference(Customer, [f.tenant, f.customer]);
      ordersOf(em, f, customer);
      await em.populate(customer, ['orders']);
      return countOf(customer.orders.getItems(), f);
    },
  },
  {
    name: 'Product: findAndCount',
    filtered: true,
    read: async (em, f) => {
      const [rows, total] = await em.findAndCount(Product, { tenant: f.tenant });
      return Math.max(countOf(rows, f), total);
    },
  },
  {
    name: 'Product: findByCursor',
    filtered: true,
    read: async (em, f) => countOf((await em.findByCursor(Product, { where: {}, first: 10, orderBy: { id: 'asc' } })).items, f),
  },
  {
    name: 'Product: stream',
    filtered: true,
    read: async (em, f) => {
      let seen = 0;
      for await (const product of em.stream(Product, { where: {} })) seen += countOf([product], f);
      return seen;
    },
  },
  // Switching the filter off is what only asPlatform may do (tests/filters/escapeHatch.test.ts scans
  // src/ for it); if some code did, RLS still holds.
  {
    name: 'Product: find with filters: false',
    filtered: false,
    read: async (em, f) => countOf(await em.find(Product, {}, { filters: false }), f),
  },
  {
    name: 'Product: find with the tenant filter disabled by name',
    filtered: false,
    read: async (em, f) => countOf(await em.find(Product, {}, { filters: { [TENANT_FILTER]: false } }), f),
  },
  {
    name: 'QueryBuilder getResult',
    filtered: false,
    read: async (em, f) => countOf(await em.createQueryBuilder(Product).select('*').getResult(), f),
  },
  {
    name: 'QueryBuilder execute',
    filtered: false,
    read: async (em, f) => countOf(await em.createQueryBuilder(Product).select('*').execute('all', false), f),
  },
  {
    name: 'QueryBuilder with a join',
    filtered: false,
    read: async (em, f) => {
      const lines = await em.createQueryBuilder(OrderLine, 'l').select('*').leftJoinAndSelect('l.order', 'o').where({ 'o.number': 1 }).getResult();
      return countOf([...lines, ...lines.map((l) => l.order.getEntity())], f);
    },
  },
  {
    name: 'raw SQL via em.execute',
    filtered: false,
    read: async (em, f) => countOf(await em.execute<{ tenant_id: string }[]>('select tenant_id from product'), f),
  },
  {
    name: 'raw SQL via em.getConnection().execute in the transaction',
    filtered: false,
    read: async (em, f) =>
      countOf(await em.getConnection().execute<{ tenant_id: string }[]>('select tenant_id from customer', [], 'all', em.getTransactionContext()), f),
  },
  {
    name: 'Kysely via em.getKysely',
    filtered: false,
    read: async (em, f) => countOf(await em.getKysely<any>().selectFrom('order_line').select('tenant_id').execute(), f),
  },
];

describe('reads', () => {
  test.each(READS.map((p) => [p.name, p] as const))('%s — all walls: sees tenant A rows', async (_name, path) => {
    expect(await asTenantA('all walls', (em) => path.read(em, A))).toBeGreaterThan(0);
  });

  test.each(READS.map((p) => [p.name, p] as const))('%s — all walls: sees no tenant B row', async (_name, path) => {
    expect(await asTenantA('all walls', (em) => path.read(em, B))).toBe(0);
  });

  test.each(READS.map((p) => [p.name, p.filtered ? 'the filter hides tenant B' : 'tenant B leaks (the filter does not cover it)', p] as const))(
    '%s — ORM only: %s',
    async (_name, _behaviour, path) => {
      const seen = await asTenantA('ORM only', (em) => path.read(em, B));
      if (path.filtered) expect(seen).toBe(0);
      else expect(seen).toBeGreaterThan(0);
    },
  );

  test.each(READS.map((p) => [p.name, p] as const))('%s — RLS only: RLS hides tenant B', async (_name, path) => {
    expect(await asTenantA('RLS only', (em) => path.read(em, B))).toBe(0);
  });

  test.each(READS.map((p) => [p.name, p] as const))('%s — no walls (control): the path reaches tenant B', async (_name, path) => {
    expect(await asTenantA('no walls', (em) => path.read(em, B))).toBeGreaterThan(0);
  });
});

// ---------------------------------------------------------------------------------------------------
// Writes aimed at tenant B. Outcome: which wall refused it, or whether B's (or the platform's) rows changed.

type Outcome = 'refused by the write guard' | 'refused by RLS' | 'no effect' | 'foreign rows changed';

interface WritePath {
  readonly name: string;
  write(em: EntityManager): Promise<unknown>;
  readonly expected: Record<Mode, Outcome>;
}

const GUARD: Outcome = 'refused by the write guard';
const RLS: Outcome = 'refused by RLS';
const NONE: Outcome = 'no effect';
const LEAK: Outcome = 'foreign rows changed';

const WRITES: WritePath[] = [
  ...SPECS.flatMap((spec): WritePath[] => [
    {
      name: `${spec.name}: nativeUpdate by B's primary key`,
      write: (em) => em.nativeUpdate(spec.entity, pk(spec, B), spec.change),
      expected: { 'all walls': NONE, 'ORM only': NONE, 'RLS only': NONE, 'no walls': LEAK },
    },
    {
      name: `${spec.name}: nativeDelete by B's primary key`,
      write: (em) => em.nativeDelete(spec.entity, pk(spec, B)),
      expected: { 'all walls': NONE, 'ORM only': NONE, 'RLS only': NONE, 'no walls': LEAK },
    },
    {
      name: `${spec.name}: QueryBuilder update by B's primary key`,
      write: (em) => em.createQueryBuilder(spec.entity).update(spec.change).where(pk(spec, B)).execute(),
      expected: { 'all walls': NONE, 'ORM only': LEAK, 'RLS only': NONE, 'no walls': LEAK },
    },
    {
      name: `${spec.name}: QueryBuilder delete by B's primary key`,
      write: (em) => em.createQueryBuilder(spec.entity).delete().where(pk(spec, B)).execute(),
      expected: { 'all walls': NONE, 'ORM only': LEAK, 'RLS only': NONE, 'no walls': LEAK },
    },
    {
      name: `${spec.name}: getReference(B's key) + change + flush`,
      write: async (em) => {
        em.assign(em.getReference(spec.entity, [B.tenant, B[spec.target]]), spec.change);
        await em.flush();
      },
      expected: { 'all walls': GUARD, 'ORM only': GUARD, 'RLS only': NONE, 'no walls': LEAK },
    },
    {
      name: `${spec.name}: getReference(B's key) + remove + flush`,
      write: async (em) => {
        em.remove(em.getReference(spec.entity, [B.tenant, B[spec.target]]));
        await em.flush();
      },
      expected: { 'all walls': GUARD, 'ORM only': GUARD, 'RLS only': NONE, 'no walls': LEAK },
    },
  ]),
  ...SPECS.filter((spec) => spec.create).flatMap((spec): WritePath[] => [
    {
      name: `${spec.name}: em.create with tenant B + flush`,
      write: async (em) => {
        em.create(spec.entity, { ...spec.create!(B), tenant: B.tenant });
        await em.flush();
      },
      expected: { 'all walls': GUARD, 'ORM only': GUARD, 'RLS only': RLS, 'no walls': LEAK },
    },
    {
      name: `${spec.name}: em.insert with tenant B`,
      write: (em) => em.insert(spec.entity, { id: randomUUID(), ...spec.create!(B), tenant: B.tenant }),
      expected: { 'all walls': RLS, 'ORM only': LEAK, 'RLS only': RLS, 'no walls': LEAK },
    },
  ]),
  ...SPECS.filter((spec) => spec.name === 'Product' || spec.name === 'Customer').flatMap((spec): WritePath[] => [
    {
      name: `${spec.name}: em.upsert of B's row`,
      write: (em) => em.upsert(spec.entity, { ...spec.create!(B), ...spec.change, tenant: B.tenant, id: B[spec.target] }),
      expected: { 'all walls': RLS, 'ORM only': LEAK, 'RLS only': RLS, 'no walls': LEAK },
    },
    {
      name: `${spec.name}: moving A's row to tenant B + flush`,
      write: async (em) => {
        const row = await em.findOneOrFail(spec.entity, pk(spec, A));
        row.tenant = ref(Tenant, B.tenant);
        await em.flush();
      },
      expected: { 'all walls': GUARD, 'ORM only': GUARD, 'RLS only': RLS, 'no walls': LEAK },
    },
  ]),
  {
    name: 'raw SQL update via em.execute',
    write: (em) => em.execute(`update product set name = 'changed by A' where tenant_id = ?`, [B.tenant]),
    expected: { 'all walls': NONE, 'ORM only': LEAK, 'RLS only': NONE, 'no walls': LEAK },
  },
  {
    name: 'raw SQL delete via em.getConnection().execute in the transaction',
    write: (em) => em.getConnection().execute(`delete from order_line where tenant_id = ?`, [B.tenant], 'run', em.getTransactionContext()),
    expected: { 'all walls': NONE, 'ORM only': LEAK, 'RLS only': NONE, 'no walls': LEAK },
  },
  {
    name: 'raw SQL insert via em.execute',
    write: (em) =>
      em.execute(`insert into customer (tenant_id, id, name, created_at) values (?, ?, 'inserted by A', now())`, [B.tenant, randomUUID()]),
    expected: { 'all walls': RLS, 'ORM only': LEAK, 'RLS only': RLS, 'no walls': LEAK },
  },
];

async function outcomeOf(mode: Mode, path: WritePath): Promise<Outcome> {
  try {
    await asTenantA(mode, (em) => path.write(em));
  } catch (err) {
    if (err instanceof TenantWriteRefusedError) return GUARD;
    if (/row-level security/.test(String((err as Error).message))) return RLS;
    throw err;
  }
  return JSON.stringify(await foreignRows()) === JSON.stringify(seededForeign) ? NONE : LEAK;
}

describe('writes aimed at tenant B', () => {
  beforeEach(seed);

  test.each(WRITES.flatMap((p) => MODES.map((mode) => [p.name, mode, p.expected[mode], p] as const)))(
    '%s — %s: %s',
    async (_name, mode, expected, path) => {
      expect(await outcomeOf(mode, path)).toBe(expected);
      if (expected !== LEAK) expect(await foreignRows()).toEqual(seededForeign);
    },
  );
});

// ---------------------------------------------------------------------------------------------------
// Tenant-tagged tables: users, domains, refresh tokens and audit events (entities), and the migrator's
// checkpoints (no entity: raw SQL). Primary key `id` alone, so no composite key helps: the filter, the
// write guard and RLS are all there is. Aimed at tenant B's rows and at the platform's (tenant null).

interface TaggedSpec {
  readonly name: string;
  readonly entity: EntityClass<object>;
  /** Whose rows the paths aim at: B, and the platform where the tenant may be null. */
  readonly foreign: readonly Owner[];
  /** The row of `o` that by-key reads and writes target. */
  target(o: Owner): string;
  readonly change: Record<string, unknown>;
  /** Complete data for a new row of `o` (without `id`): `em.insert` and `em.upsert` skip initializers. */
  create(o: Owner): Record<string, unknown>;
  /** What moves a row of A to `o`, with whatever else a row of `o` must have (a superadmin's role). */
  moveTo(o: Owner): Record<string, unknown>;
  /** The row of A that is moved. */
  readonly movable: string;
  /** Condition "belongs to `o`". */
  ownedBy(o: Owner): Record<string, unknown>;
}

const TAGGED_SPECS: TaggedSpec[] = [
  {
    name: 'User',
    entity: User,
    foreign: [B, PLATFORM],
    target: (o) => o.spareUser,
    change: { email: 'changed-by-a@example.com' },
    create: (o) => ({ tenant: o.tenant, email: `new@${o.label.toLowerCase()}.example.com`, role: o.tenant ? Role.MEMBER : Role.SUPERADMIN, passwordHash: 'x', isActive: true, createdAt: new Date() }),
    moveTo: (o) => ({ tenant: o.tenant, role: o.tenant ? Role.MEMBER : Role.SUPERADMIN }),
    movable: A.spareUser,
    ownedBy: (o) => ({ tenant: o.tenant }),
  },
  {
    name: 'Domain',
    entity: Domain,
    foreign: [B],
    target: (o) => (o as TenantFixture).spareDomain,
    change: { isActive: false },
    create: (o) => ({
      tenant: o.tenant,
      hostname: `new.${o.label.toLowerCase()}.example.com`,
      isPrimary: false,
      isActive: true,
      verifiedAt: new Date(),
      primaryOnVerification: false,
      createdAt: new Date(),
    }),
    moveTo: (o) => ({ tenant: o.tenant }),
    movable: A.spareDomain,
    ownedBy: (o) => ({ tenant: o.tenant }),
  },
  {
    name: 'RefreshToken',
    entity: RefreshToken,
    foreign: [B, PLATFORM],
    target: (o) => o.refreshToken,
    change: { revokedAt: new Date(SEEDED_AT) },
    create: (o) => ({ tenant: o.tenant, user: o.user, familyId: randomUUID(), tokenHash: randomUUID(), expiresAt: new Date('2099-01-01'), createdAt: new Date() }),
    // A token names its user within its tenant (composite foreign key): it moves with one of `o`'s users.
    moveTo: (o) => ({ tenant: o.tenant, user: o.user }),
    movable: A.refreshToken,
    ownedBy: (o) => ({ tenant: o.tenant }),
  },
  {
    name: 'AuditEvent',
    entity: AuditEvent,
    foreign: [B, PLATFORM],
    target: (o) => o.auditEvent,
    change: { target: 'changed by A' },
    create: (o) => ({ action: 'test.created', tenantId: o.tenant, at: new Date() }),
    moveTo: (o) => ({ tenantId: o.tenant }),
    movable: A.auditEvent,
    ownedBy: (o) => ({ tenantId: o.tenant }),
  },
];

/** The tenant a row (entity or raw) belongs to; null for a platform row. */
function tenantOfRow(row: object): string | null {
  const r = row as Record<string, unknown>;
  const value = 'tenant_id' in r ? r.tenant_id : 'tenantId' in r ? r.tenantId : r.tenant;
  if (value === null || value === undefined) return null;
  return typeof value === 'string' ? value : (value as { id: string }).id;
}
const ownedCount = (rows: Iterable<object>, o: Owner) => [...rows].filter((r) => tenantOfRow(r) === o.tenant).length;

/** Raw SQL on each tagged table, with values a row of `o` needs. */
interface RawTable {
  readonly table: (typeof TAGGED_TABLES)[number];
  readonly foreign: readonly Owner[];
  readonly set: string;
  insert(o: Owner): [string, unknown[]];
}

const RAW_TABLES: RawTable[] = [
  {
    table: 'user',
    foreign: [B, PLATFORM],
    set: `password_hash = 'changed by A'`,
    insert: (o) => [`insert into "user" (id, tenant_id, email, role, password_hash, created_at) values (?, ?, 'raw@example.com', ?, 'x', now())`, [randomUUID(), o.tenant, o.tenant ? 'MEMBER' : 'SUPERADMIN']],
  },
  {
    table: 'domain',
    foreign: [B],
    set: `is_active = false`,
    insert: (o) => [`insert into domain (id, tenant_id, hostname, is_primary, is_active, verified_at, created_at) values (?, ?, 'raw.example.com', false, true, now(), now())`, [randomUUID(), o.tenant]],
  },
  {
    table: 'refresh_token',
    foreign: [B, PLATFORM],
    set: `revoked_at = now()`,
    insert: (o) => [
      `insert into refresh_token (id, tenant_id, user_id, family_id, token_hash, expires_at, created_at) values (?, ?, ?, ?, 'raw', now(), now())`,
      [randomUUID(), o.tenant, o.user, randomUUID()],
    ],
  },
  {
    table: 'audit_event',
    foreign: [B, PLATFORM],
    set: `target = 'changed by A'`,
    insert: (o) => [`insert into audit_event (id, action, tenant_id, at) values (?, 'raw', ?, now())`, [randomUUID(), o.tenant]],
  },
  {
    table: 'migration_checkpoint',
    foreign: [B],
    set: `rows_copied = 99`,
    insert: (o) => [`insert into migration_checkpoint (tenant_id, table_name, source_schema) values (?, 'customer', 'raw')`, [o.tenant]],
  },
];

/** `tenant_id` of `o`'s rows, as a SQL condition with its parameters. */
const ownedSql = (o: Owner): [string, unknown[]] => (o.tenant ? ['tenant_id = ?', [o.tenant]] : ['tenant_id is null', []]);

interface TaggedReadPath {
  readonly name: string;
  readonly filtered: boolean;
  /** Whose rows it aims at (B, the platform), besides A's for the positive control. */
  readonly foreign: readonly Owner[];
  read(em: EntityManager, o: Owner): Promise<number>;
}

const TAGGED_READS: TaggedReadPath[] = [
  ...TAGGED_SPECS.flatMap((spec): TaggedReadPath[] => [
    { name: `${spec.name}: find (all rows)`, filtered: true, foreign: spec.foreign, read: async (em, o) => ownedCount(await em.find(spec.entity, {}), o) },
    { name: `${spec.name}: findOne by primary key`, filtered: true, foreign: spec.foreign, read: async (em, o) => ((await em.findOne(spec.entity, { id: spec.target(o) })) ? 1 : 0) },
    { name: `${spec.name}: count by owner`, filtered: true, foreign: spec.foreign, read: (em, o) => em.count(spec.entity, spec.ownedBy(o)) },
    {
      name: `${spec.name}: lazy reference load`,
      filtered: true,
      foreign: spec.foreign,
      read: async (em, o) => ((await em.getReference(spec.entity, spec.target(o) as never, { wrapped: true }).load()) ? 1 : 0),
    },
    { name: `${spec.name}: find with filters: false`, filtered: false, foreign: spec.foreign, read: async (em, o) => ownedCount(await em.find(spec.entity, {}, { filters: false }), o) },
    { name: `${spec.name}: QueryBuilder getResult`, filtered: false, foreign: spec.foreign, read: async (em, o) => ownedCount(await em.createQueryBuilder(spec.entity).select('*').getResult(), o) },
  ]),
  {
    name: 'Tenant → domains: populate (Tenant itself is shared and unfiltered)',
    filtered: true,
    foreign: [B],
    read: async (em, o) => ownedCount((await em.find(Tenant, {}, { populate: ['domains'] })).flatMap((t) => t.domains.getItems()), o),
  },
  {
    name: 'RefreshToken → user: populate joined',
    filtered: true,
    foreign: [B, PLATFORM],
    read: async (em, o) => ownedCount((await em.find(RefreshToken, {}, { populate: ['user'], strategy: 'joined' })).map((t) => t.user.getEntity()), o),
  },
  ...RAW_TABLES.map(
    (raw): TaggedReadPath => ({
      name: `${raw.table}: raw SQL via em.execute`,
      filtered: false,
      foreign: raw.foreign,
      read: async (em, o) => ownedCount(await em.execute<{ tenant_id: string | null }[]>(`select tenant_id from "${raw.table}"`), o),
    }),
  ),
];

const taggedReadCases = TAGGED_READS.flatMap((p) => p.foreign.map((o) => [p.name, o.label, p, o] as const));

describe('reads of tenant-tagged tables', () => {
  test.each(TAGGED_READS.map((p) => [p.name, p] as const))('%s — all walls: sees tenant A rows', async (_name, path) => {
    expect(await asTenantA('all walls', (em) => path.read(em, A))).toBeGreaterThan(0);
  });

  test.each(taggedReadCases)('%s — all walls: sees no %s row', async (_name, _owner, path, o) => {
    expect(await asTenantA('all walls', (em) => path.read(em, o))).toBe(0);
  });

  test.each(taggedReadCases.map(([name, owner, path, o]) => [name, path.filtered ? `the filter hides ${owner}` : `${owner} leaks (the filter does not cover it)`, path, o] as const))(
    '%s — ORM only: %s',
    async (_name, _behaviour, path, o) => {
      const seen = await asTenantA('ORM only', (em) => path.read(em, o));
      if (path.filtered) expect(seen).toBe(0);
      else expect(seen).toBeGreaterThan(0);
    },
  );

  test.each(taggedReadCases)('%s — RLS only: RLS hides %s', async (_name, _owner, path, o) => {
    expect(await asTenantA('RLS only', (em) => path.read(em, o))).toBe(0);
  });

  test.each(taggedReadCases)('%s — no walls (control): the path reaches %s', async (_name, _owner, path, o) => {
    expect(await asTenantA('no walls', (em) => path.read(em, o))).toBeGreaterThan(0);
  });
});

const TAGGED_WRITES: WritePath[] = [
  ...TAGGED_SPECS.flatMap((spec) =>
    spec.foreign.flatMap((o): WritePath[] => [
      {
        name: `${spec.name}: nativeUpdate by ${o.label}'s primary key`,
        write: (em) => em.nativeUpdate(spec.entity, { id: spec.target(o) }, spec.change),
        expected: { 'all walls': NONE, 'ORM only': NONE, 'RLS only': NONE, 'no walls': LEAK },
      },
      {
        name: `${spec.name}: nativeDelete by ${o.label}'s primary key`,
        write: (em) => em.nativeDelete(spec.entity, { id: spec.target(o) }),
        expected: { 'all walls': NONE, 'ORM only': NONE, 'RLS only': NONE, 'no walls': LEAK },
      },
      {
        name: `${spec.name}: QueryBuilder update by ${o.label}'s primary key`,
        write: (em) => em.createQueryBuilder(spec.entity).update(spec.change).where({ id: spec.target(o) } as never).execute(),
        expected: { 'all walls': NONE, 'ORM only': LEAK, 'RLS only': NONE, 'no walls': LEAK },
      },
      {
        name: `${spec.name}: QueryBuilder delete by ${o.label}'s primary key`,
        write: (em) => em.createQueryBuilder(spec.entity).delete().where({ id: spec.target(o) } as never).execute(),
        expected: { 'all walls': NONE, 'ORM only': LEAK, 'RLS only': NONE, 'no walls': LEAK },
      },
      {
        name: `${spec.name}: getReference(${o.label}'s key) + change + flush`,
        write: async (em) => {
          em.assign(em.getReference(spec.entity, spec.target(o) as never), spec.change);
          await em.flush();
        },
        expected: { 'all walls': GUARD, 'ORM only': GUARD, 'RLS only': NONE, 'no walls': LEAK },
      },
      {
        name: `${spec.name}: getReference(${o.label}'s key) + remove + flush`,
        write: async (em) => {
          em.remove(em.getReference(spec.entity, spec.target(o) as never));
          await em.flush();
        },
        expected: { 'all walls': GUARD, 'ORM only': GUARD, 'RLS only': NONE, 'no walls': LEAK },
      },
      {
        name: `${spec.name}: em.create for ${o.label} + flush`,
        write: async (em) => {
          em.create(spec.entity, spec.create(o));
          await em.flush();
        },
        expected: { 'all walls': GUARD, 'ORM only': GUARD, 'RLS only': RLS, 'no walls': LEAK },
      },
      {
        name: `${spec.name}: em.insert for ${o.label}`,
        write: (em) => em.insert(spec.entity, { id: randomUUID(), ...spec.create(o) }),
        expected: { 'all walls': RLS, 'ORM only': LEAK, 'RLS only': RLS, 'no walls': LEAK },
      },
      {
        name: `${spec.name}: em.upsert of ${o.label}'s row`,
        write: (em) => em.upsert(spec.entity, { ...spec.create(o), ...spec.change, id: spec.target(o) }),
        expected: { 'all walls': RLS, 'ORM only': LEAK, 'RLS only': RLS, 'no walls': LEAK },
      },
      // No composite key here to keep A's upsert in A: naming another row's id takes that row over.
      {
        name: `${spec.name}: em.upsert as A's own row naming ${o.label}'s id`,
        write: (em) => em.upsert(spec.entity, { ...spec.create(A), id: spec.target(o) }),
        expected: { 'all walls': RLS, 'ORM only': LEAK, 'RLS only': RLS, 'no walls': LEAK },
      },
      {
        name: `${spec.name}: moving A's row to ${o.label} + flush`,
        write: async (em) => {
          em.assign(await em.findOneOrFail(spec.entity, { id: spec.movable }), spec.moveTo(o));
          await em.flush();
        },
        expected: { 'all walls': GUARD, 'ORM only': GUARD, 'RLS only': RLS, 'no walls': LEAK },
      },
    ]),
  ),
  ...RAW_TABLES.flatMap((raw) =>
    raw.foreign.flatMap((o): WritePath[] => {
      const [owned, params] = ownedSql(o);
      return [
        {
          name: `${raw.table}: raw SQL update of ${o.label}'s rows`,
          write: (em) => em.execute(`update "${raw.table}" set ${raw.set} where ${owned}`, params),
          expected: { 'all walls': NONE, 'ORM only': LEAK, 'RLS only': NONE, 'no walls': LEAK },
        },
        {
          name: `${raw.table}: raw SQL delete of ${o.label}'s rows`,
          write: (em) => em.execute(`delete from "${raw.table}" where ${owned}`, params),
          expected: { 'all walls': NONE, 'ORM only': LEAK, 'RLS only': NONE, 'no walls': LEAK },
        },
        {
          name: `${raw.table}: raw SQL insert of a row of ${o.label}`,
          write: (em) => em.execute(...raw.insert(o)),
          expected: { 'all walls': RLS, 'ORM only': LEAK, 'RLS only': RLS, 'no walls': LEAK },
        },
      ];
    }),
  ),
];

describe('writes to tenant-tagged tables aimed at tenant B and the platform', () => {
  beforeEach(seed);

  test.each(TAGGED_WRITES.flatMap((p) => MODES.map((mode) => [p.name, mode, p.expected[mode], p] as const)))(
    '%s — %s: %s',
    async (_name, mode, expected, path) => {
      expect(await outcomeOf(mode, path)).toBe(expected);
      if (expected !== LEAK) expect(await foreignRows()).toEqual(seededForeign);
    },
  );
});

// ---------------------------------------------------------------------------------------------------
// Single behaviours

describe('tenant A', () => {
  beforeEach(seed);

  test('creates rows stamped with its own tenant without naming one', async () => {
    const id = await inTenant(db.orm, A.tenant, async (em) => {
      const product = em.create(Product, { sku: 'STAMPED', name: 'stamped', priceCents: 1 } as any);
      await em.flush();
      return product.id;
    });
    const { rows } = await db.owner.query('select tenant_id from product where id = $1', [id]);
    expect(rows).toEqual([{ tenant_id: A.tenant }]);
  });

  test('a change through an uninitialized reference is refused even for A’s own row (write guard)', async () => {
    const attempt = inTenant(db.orm, A.tenant, async (em) => {
      em.assign(em.getReference(Product, [A.tenant, A.spareProduct]), { name: 'changed blind' });
      await em.flush();
    });
    await expect(attempt).rejects.toThrow(/through an uninitialized reference/);
    const { rows } = await db.owner.query('select name from product where tenant_id = $1 and id = $2', [A.tenant, A.spareProduct]);
    expect(rows).toEqual([{ name: 'Spare product A' }]);
  });

  test('upsert naming B’s id under tenant A writes only A’s own row (composite primary key)', async () => {
    await inTenant(db.orm, A.tenant, (em) =>
      em.upsert(Product, {
        tenant: A.tenant,
        id: B.spareProduct,
        sku: 'UPSERTED',
        name: 'upserted by A',
        priceCents: 1,
        createdAt: new Date(),
        updatedAt: new Date(),
      }),
    );
    const { rows } = await db.owner.query('select tenant_id, name from product where id = $1 order by name', [B.spareProduct]);
    expect(rows).toEqual([
      { tenant_id: B.tenant, name: 'Spare product B' },
      { tenant_id: A.tenant, name: 'upserted by A' },
    ]);
  });

  test('an order of A cannot point at B’s customer (composite foreign key)', async () => {
    // Even with every other wall down, tenant_id is shared by the row and its reference.
    const attempt = asTenantA('no walls', async (em) => {
      em.create(Order, { tenant: A.tenant, number: 2, customer: [B.tenant, B.customer], totalCents: 1 } as any);
      await em.flush();
    });
    await expect(attempt).rejects.toThrow();
    expect(await foreignRows()).toEqual(seededForeign);
    const { rows } = await db.owner.query('select count(*)::int as n from "order" where tenant_id = $1', [A.tenant]);
    expect(rows[0].n).toBe(1);
  });

  test('raw SQL outside the unit of work’s transaction errors at the database, even inside inTenant', async () => {
    // em.getConnection().execute without the transaction context takes another pooled connection,
    // which has no tenant setting: RLS raises instead of returning rows.
    const attempt = inTenant(db.orm, A.tenant, (em) => em.getConnection().execute('select * from product'));
    await expect(attempt).rejects.toThrow(/app\.tenant_id|invalid input syntax for type uuid/);
  });
});

describe('no scope at all', () => {
  const reads: [string, (em: EntityManager) => Promise<unknown>][] = [
    ['find', (em) => em.find(Product, {})],
    ['findOne', (em) => em.findOne(Customer, { id: A.customer })],
    ['count', (em) => em.count(Order)],
    ['populate', (em) => em.find(Order, {}, { populate: ['lines'] })],
    ['nativeUpdate', (em) => em.nativeUpdate(OrderLine, {}, { quantity: 0 })],
    ['nativeDelete', (em) => em.nativeDelete(OrderCounter, {})],
    ['find of users', (em) => em.find(User, {})],
    ['findOne of a domain', (em) => em.findOne(Domain, { hostname: 'shop.a.example.com' })],
    ['count of refresh tokens', (em) => em.count(RefreshToken)],
    ['find of audit events', (em) => em.find(AuditEvent, {})],
    ['nativeUpdate of users', (em) => em.nativeUpdate(User, {}, { isActive: false })],
    ['rows without entities (findRows)', (em) => findRows(em, Order, allOf([]))],
    ['countRows', (em) => countRows(em, Order, allOf([]))],
    ['rows without entities in a transaction (findRows, a statement template)', (em) => em.transactional((t) => findRows(t, Order, anyId('id', [A.order])))],
  ];

  test.each(reads)('%s throws TenantScopeMissingError (the filter fails closed)', async (_name, op) => {
    await expect(op(db.orm.em.fork() as EntityManager)).rejects.toThrow(TenantScopeMissingError);
  });

  test('em.create + flush throws TenantScopeMissingError', async () => {
    const em = db.orm.em.fork();
    await expect(async () => {
      em.create(Product, { sku: 'NOSCOPE', name: 'x', priceCents: 1 } as any);
      await em.flush();
    }).rejects.toThrow(TenantScopeMissingError);
  });

  test('em.create + flush of a platform row (a superadmin) throws TenantScopeMissingError', async () => {
    const em = db.orm.em.fork();
    await expect(async () => {
      em.create(User, { tenant: null, email: 'noscope@example.com', role: Role.SUPERADMIN, passwordHash: 'x' });
      await em.flush();
    }).rejects.toThrow(TenantScopeMissingError);
  });

  test.each([...TABLES, ...TAGGED_TABLES])(
    'raw SQL on %s errors at the database (RLS), never returns rows',
    async (table) => {
      await expect(db.orm.em.fork().execute(`select * from "${table}"`)).rejects.toThrow(/app\.tenant_id|invalid input syntax for type uuid/);
    },
  );

  test('the same raw SQL inside inTenant returns only that tenant’s rows', async () => {
    const rows = await inTenant(db.orm, A.tenant, (em) => em.execute<{ tenant_id: string }[]>('select distinct tenant_id from product'));
    expect(rows).toEqual([{ tenant_id: A.tenant }]);
  });
});
