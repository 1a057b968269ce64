import type { EntityManager } from '@mikro-orm/postgresql';
import pg from 'pg';
import { assertSubjectToRls, enableAppRoleLogin, migrate } from '../../src/db/database.js';
import { createOrm, type Orm } from '../../src/db/orm.js';
import { TENANT_SETTING } from '../../src/db/roles.js';
import { currentState, currentStateRead } from '../../src/context/currentState.js';
import { runInScope } from '../../src/filters/scope.js';
import { Product, Role } from '../../src/entities/index.js';
import { inTenant } from '../../src/filters/inTenant.js';
import { type BenchRow, type BenchServer, median, ms, percentile, type Scenario } from '../harness.js';

/** Products per tenant: 5,000 tenants × 200 = 1,000,000 rows. */
const PRODUCTS_PER_TENANT = 200;
const SMALL_TENANTS = 10;
const LARGE_TENANTS = 5_000;
const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 2_000);

const COLUMNS = 'tenant_id, id, sku, name, price_cents, created_at, updated_at';
const FIND_ONE_SQL = `select ${COLUMNS} from product where tenant_id = $1 and id = $2 limit 1`;
const LIST_SQL = `select ${COLUMNS} from product where tenant_id = $1 order by sku asc limit 50`;

/**
 * The cost of tenant scoping on reads.
 *
 * (a) `findOne` by key and a 50-row list (products by sku), each in its own `inTenant` unit of work:
 *     fork, tenant filter, `begin`, `set_config`, the query under RLS, `commit`, hydration. Baseline:
 *     the same SQL over `pg` as the superuser (no RLS, no transaction, no ORM), one round trip. Two
 *     "part" rows split the ratio: the ORM alone (superuser, filter lifted, no transaction), and the
 *     same SQL by hand as the app role in begin/set_config/query/commit (RLS + round trips, no ORM).
 * (b) The scoped 50-row list of one tenant with 10 tenants loaded, then with 5,000 (about 1M products,
 *     loaded set-based as the owner, then ANALYZE): does a tenant's read cost grow with other tenants' data?
 * (c) What every request pays to check its tenant and caller (`currentState`: the tenant row and the
 *     user's current role and active flag, read in the unit of work's first round trip together with
 *     `begin` and the setting): the `findOne` unit of work with the check vs without.
 */
export const scoping: Scenario = {
  name: 'scoping',
  async run(server): Promise<BenchRow[]> {
    const small = await openBenchDatabase(server, 'bench_scoping_small');
    const large = await openBenchDatabase(server, 'bench_scoping_large').catch(async (err) => {
      await small.close();
      throw err;
    });
    try {
      await loadTenants(small.owner, 1, SMALL_TENANTS);
      const loadStarted = performance.now();
      await loadTenants(large.owner, 1, LARGE_TENANTS);
      const loadSeconds = (performance.now() - loadStarted) / 1000;

      const s = await paths(small);
      const l = await paths(large);
      // Interleaved: every path runs once per round, so load from anything else on the machine hits
      // each path alike and the ratios stay fair.
      const a = await sampleInterleaved({ ...s }, ITERATIONS);
      const b = await sampleInterleaved({ smallScoped: s.scopedList, largeScoped: l.scopedList, smallPlain: s.plainList, largePlain: l.plainList }, ITERATIONS);

      const smallNote = `${await productCount(small)} products, 10 tenants`;
      const largeNote = `${await productCount(large)} vs ${await productCount(small)} products (loaded in ${loadSeconds.toFixed(1)} s)`;
      return [
        row('findOne: inTenant (filter + RLS) vs plain SQL as superuser', a.scopedFindOne, a.plainFindOne, smallNote),
        row('  findOne part: the ORM alone (superuser, filter lifted, no transaction)', a.ormFindOne, a.plainFindOne, 'ORM, no scoping'),
        row('  findOne part: same SQL as app role in begin/set_config/commit', a.rlsFindOne, a.plainFindOne, 'RLS + round trips, no ORM'),
        row('findOne: inTenant with the caller check vs without', a.checkedFindOne, a.scopedFindOne, 'currentState: the tenant and the user read with the setting, in its round trip'),
        row('list 50 by sku: inTenant (filter + RLS) vs plain SQL as superuser', a.scopedList, a.plainList, smallNote),
        row('  list 50 part: the ORM alone (superuser, filter lifted, no transaction)', a.ormList, a.plainList, 'ORM, no scoping'),
        row('  list 50 part: same SQL as app role in begin/set_config/commit', a.rlsList, a.plainList, 'RLS + round trips, no ORM'),
        row('list 50 scoped (inTenant): 5,000 tenants vs 10 tenants', b.largeScoped, b.smallScoped, largeNote),
        row('  list 50 plain SQL: 5,000 tenants vs 10 tenants', b.largePlain, b.smallPlain, 'same, without scoping'),
      ];
    } finally {
      await small.close();
      await large.close();
    }
  },
};

interface BenchDatabase {
  readonly orm: Orm;
  /** The same ORM as the superuser: the ORM's own cost, without RLS. */
  readonly ownerOrm: Orm;
  readonly owner: pg.Pool;
  readonly app: pg.Pool;
  close(): Promise<void>;
}

/** A migrated database with the app-role ORM (checked subject to RLS), an app-role pool and an owner pool. */
async function openBenchDatabase(server: BenchServer, name: string): Promise<BenchDatabase> {
  const ownerUrl = await server.createDatabase(name);
  await migrate(ownerUrl);
  const appUrl = await enableAppRoleLogin(ownerUrl, 'bench-app-password');
  const owner = new pg.Pool({ connectionString: ownerUrl, max: 1 });
  const app = new pg.Pool({ connectionString: appUrl, max: 1 });
  // An idle client's connection error is emitted on the pool; unheard, it kills the process.
  for (const pool of [owner, app]) pool.on('error', (err) => process.stderr.write(`bench ${name}: idle connection error: ${err.message}\n`));
  const orm = await createOrm(appUrl, { pool: { min: 1, max: 1 } });
  await assertSubjectToRls(orm);
  const ownerOrm = await createOrm(ownerUrl, { pool: { min: 1, max: 1 } });
  return {
    orm,
    ownerOrm,
    owner,
    app,
    close: async () => {
      await orm.close();
      await ownerOrm.close();
      await app.end();
      await owner.end();
    },
  };
}

async function productCount(db: BenchDatabase): Promise<string> {
  const { rows } = await db.owner.query<{ n: number }>('select count(*)::int as n from product');
  return rows[0].n.toLocaleString('en');
}

/** The timed paths on one database, for tenant `bench-1`, after checking each returns real rows. */
async function paths(db: BenchDatabase) {
  const tenant = (await db.owner.query<{ id: string }>(`select id from tenant where slug = 'bench-1'`)).rows[0].id;
  const ids = (await db.owner.query<{ id: string }>('select id from product where tenant_id = $1', [tenant])).rows.map((r) => r.id);
  const { rows: [user] } = await db.owner.query<{ id: string }>(
    `insert into "user" (id, tenant_id, email, role, password_hash, created_at) values (gen_random_uuid(), $1, 'bench@bench-1.example.com', 'ADMIN', 'x', now()) returning id`,
    [tenant],
  );
  const question = { tenantId: tenant, principal: { userId: user.id, role: Role.ADMIN, tenantId: tenant, exp: 0 }, named: null, namedError: null };
  let next = 0;
  const nextId = () => ids[next++ % ids.length];
  const p = {
    scopedFindOne: () => inTenant(db.orm, tenant, (em) => em.findOneOrFail(Product, { id: nextId() })),
    checkedFindOne: () =>
      inTenant(
        db.orm,
        tenant,
        async (em, rows) => {
          currentState(em, question, rows);
          return em.findOneOrFail(Product, { id: nextId() });
        },
        { opening: currentStateRead(question) },
      ),
    plainFindOne: () => db.owner.query(FIND_ONE_SQL, [tenant, nextId()]),
    ormFindOne: () => unscoped(db.ownerOrm, (em) => em.findOneOrFail(Product, { tenant, id: nextId() })),
    rlsFindOne: () => inAppTransaction(db.app, tenant, FIND_ONE_SQL, [tenant, nextId()]),
    scopedList: () => inTenant(db.orm, tenant, (em) => listOf(em)),
    plainList: () => db.owner.query(LIST_SQL, [tenant]),
    ormList: () => unscoped(db.ownerOrm, (em) => listOf(em, tenant)),
    rlsList: () => inAppTransaction(db.app, tenant, LIST_SQL, [tenant]),
  };
  if ([(await p.scopedList()).length, (await p.plainList()).rows.length, (await p.ormList()).length, (await p.rlsList()).length].some((n) => n !== 50)) {
    throw new Error('bench: a list did not return 50 rows');
  }
  return p;
}

/** Runs every function once per round, in turn; returns per-call latencies in ms per function. */
async function sampleInterleaved<K extends string>(fns: Record<K, () => Promise<unknown>>, iterations: number): Promise<Record<K, number[]>> {
  const keys = Object.keys(fns) as K[];
  const out = Object.fromEntries(keys.map((k) => [k, [] as number[]])) as Record<K, number[]>;
  const warmup = Math.ceil(iterations / 10);
  for (let i = 0; i < warmup + iterations; i++) {
    for (const k of keys) {
      const t = performance.now();
      await fns[k]();
      if (i >= warmup) out[k].push(performance.now() - t);
    }
  }
  return out;
}

/** The list, as the app writes it: the tenant comes from the filter (or, unscoped, from `tenant`). */
function listOf(em: EntityManager, tenant?: string): Promise<Product[]> {
  return em.find(Product, tenant ? { tenant } : {}, { orderBy: { sku: 'asc' }, limit: 50 });
}

/** A fork in platform scope (filter lifted) on `orm`, no transaction: the ORM's own cost. */
function unscoped<T>(orm: Orm, fn: (em: EntityManager) => Promise<T>): Promise<T> {
  return runInScope({ kind: 'platform', reason: 'bench: ORM baseline' }, () => fn(orm.em.fork({ clear: true }) as EntityManager));
}

/** What RLS costs without the ORM: the unit of work's round trips around one query. */
async function inAppTransaction(pool: pg.Pool, tenant: string, sql: string, params: unknown[]): Promise<unknown[]> {
  const client = await pool.connect();
  try {
    await client.query('begin');
    await client.query('select set_config($1, $2, true)', [TENANT_SETTING, tenant]);
    const { rows } = await client.query(sql, params);
    await client.query('commit');
    return rows;
  } catch (err) {
    await client.query('rollback');
    throw err;
  } finally {
    client.release();
  }
}

/**
 * Tenants `bench-<from>` … `bench-<to>`, each with PRODUCTS_PER_TENANT products, set-based, sorted by
 * key so the (tenant_id, …) indexes are appended to rather than split at random; then ANALYZE.
 */
async function loadTenants(owner: pg.Pool, from: number, to: number): Promise<void> {
  const client = await owner.connect();
  try {
    await client.query('begin');
    await client.query('set local synchronous_commit = off');
    // One statement: the new tenants feed the product insert directly (no lookup back by slug).
    await client.query(
      `with t as (
         insert into tenant (id, name, slug, is_active, status, created_at)
         select gen_random_uuid(), 'Bench tenant ' || n, 'bench-' || n, true, 'READY', now() from generate_series($1::int, $2::int) n
         returning id
       )
       insert into product (tenant_id, id, sku, name, price_cents, created_at, updated_at)
       select t.id, gen_random_uuid(), 'SKU-' || lpad(s::text, 5, '0'), 'Product ' || s, (s * 37) % 10000, now(), now()
         from t cross join generate_series(1, $3::int) s
        order by t.id, s`,
      [from, to, PRODUCTS_PER_TENANT],
    );
    await client.query('commit');
    await client.query('analyze tenant');
    await client.query('analyze product');
  } catch (err) {
    await client.query('rollback');
    throw err;
  } finally {
    client.release();
  }
}

function row(scenario: string, measured: number[], baseline: number[], note: string): BenchRow {
  const fmt = (v: number[]) => `${ms(median(v))} (p95 ${percentile(v, 95).toFixed(3)})`;
  return { scenario, measured: fmt(measured), baseline: fmt(baseline), ratio: median(measured) / median(baseline), note };
}
