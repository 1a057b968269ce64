/**
 * The isolation matrix: tenant A, acting through every MikroORM access path, never sees or changes
 * tenant B's rows, in every tenant-owned entity.
 *
 * Each path runs in four modes, so every assertion is shown to depend on a wall that really exists:
 *
 * - `all walls`: the production path, `inTenant(orm, A, …)`: tenant filter + write guard + RLS.
 * - `ORM only`: tenant scope A (filter and write guard on), RLS lifted by taking the platform role.
 * - `RLS only`: filter lifted (platform scope), write guard removed (an ORM without the subscriber),
 *   `app.tenant_id = A` set as inTenant does.
 * - `no walls`: filter lifted, guard removed, platform role: the control. Every path must reach B's
 *   rows here, otherwise the other modes' "B untouched" would prove nothing.
 *
 * B's rows are checked at the database through the superuser pool after every write.
 */
import { Collection, type EntityClass, ref } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { randomUUID } from 'node:crypto';
import { runInScope, TenantScopeMissingError } from '../../src/filters/scope.js';
import { createOrm, type Orm } from '../../src/db/orm.js';
import { PLATFORM_ROLE, TENANT_SETTING } from '../../src/db/roles.js';
import { Customer, Order, OrderCounter, OrderLine, Product, Tenant, type TenantScoped } from '../../src/entities/index.js';
import { inTenant } from '../../src/filters/inTenant.js';
import { TENANT_FILTER } from '../../src/filters/tenantFilter.js';
import { TenantWriteRefusedError } from '../../src/filters/writeGuard.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

// ---------------------------------------------------------------------------------------------------
// Fixture: two tenants, rows in every tenant-owned table. `spare*` rows are referenced by nothing, so
// deleting or moving them is only stopped by the walls under test, not by a foreign key.

interface TenantFixture {
  readonly label: 'A' | 'B';
  readonly tenant: string;
  readonly product: string;
  readonly spareProduct: string;
  readonly customer: string;
  readonly spareCustomer: string;
  readonly order: string;
  readonly orderLine: string;
  readonly orderCounter: string;
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
  };
}

const A = fixture('A');
const B = fixture('B');
/** Fixed, so a snapshot of B's rows taken after a reseed equals the first one. */
const SEEDED_AT = '2026-01-01T00:00:00Z';
const TABLES = ['product', 'customer', 'order', 'order_line', 'order_counter'] as const;

let db: TestDatabase;
/** The same ORM without the write guard: lets a mode drop that wall alone. */
let unguarded: Orm;
let seededB: Record<string, unknown[]>;

async function seed(): Promise<void> {
  const client = await db.owner.connect();
  try {
    await client.query('begin');
    for (const table of ['order_line', 'order', 'product', 'customer', 'order_counter']) {
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
    }
    await client.query('commit');
  } catch (err) {
    await client.query('rollback');
    throw err;
  } finally {
    client.release();
  }
}

/** Every row of tenant `tenantId` in every tenant-owned table, as the superuser sees it. */
async function rowsOf(tenantId: string): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  for (const table of TABLES) {
    const { rows } = await db.owner.query(`select to_jsonb(t) as row from "${table}" t where tenant_id = $1 order by id`, [tenantId]);
    out[table] = rows.map((r) => r.row);
  }
  return out;
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
  seededB = await rowsOf(B.tenant);
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
// Writes aimed at tenant B. Outcome: which wall refused it, or whether B's rows changed.

type Outcome = 'refused by the write guard' | 'refused by RLS' | 'no effect' | 'tenant B changed';

interface WritePath {
  readonly name: string;
  write(em: EntityManager): Promise<unknown>;
  readonly expected: Record<Mode, Outcome>;
}

const GUARD: Outcome = 'refused by the write guard';
const RLS: Outcome = 'refused by RLS';
const NONE: Outcome = 'no effect';
const LEAK: Outcome = 'tenant B changed';

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
  const after = await rowsOf(B.tenant);
  return JSON.stringify(after) === JSON.stringify(seededB) ? NONE : LEAK;
}

describe('writes aimed at tenant B', () => {
  beforeEach(seed);

  test.each(WRITES.flatMap((p) => MODES.map((mode) => [p.name, mode, p.expected[mode], p] as const)))(
    '%s — %s: %s',
    async (_name, mode, expected, path) => {
      expect(await outcomeOf(mode, path)).toBe(expected);
      if (expected !== LEAK) expect(await rowsOf(B.tenant)).toEqual(seededB);
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
    expect(await rowsOf(B.tenant)).toEqual(seededB);
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

  test.each(['product', 'customer', 'order', 'order_line', 'order_counter'])(
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
