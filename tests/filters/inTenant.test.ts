/**
 * inTenant's opening: `begin`, the transaction-local tenant setting and the caller's opening read reach
 * Postgres as one message (one round trip), and RLS already applies to that read.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { createOrm, type Orm } from '../../src/db/orm.js';
import { Product } from '../../src/entities/index.js';
import { inTenant } from '../../src/filters/inTenant.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

const A = randomUUID();
const B = randomUUID();
let db: TestDatabase;
let orm: Orm;
let roundTrips = 0;

beforeAll(async () => {
  db = await createTestDatabase();
  for (const [id, slug] of [[A, 'opening-a'], [B, 'opening-b']]) {
    await db.owner.query(`insert into tenant (id, name, slug, status, created_at) values ($1, $2, $2, 'READY', now())`, [id, slug]);
    await db.owner.query(`insert into product (tenant_id, id, sku, name, price_cents, created_at, updated_at) values ($1, gen_random_uuid(), 'SKU', $2, 1, now(), now())`, [id, slug]);
  }
  // Every message the ORM's connections answer, counted as Postgres counts them (one ReadyForQuery each).
  const count = (pool: pg.Pool) => pool.on('connect', (client) => (client as unknown as { connection: pg.Connection }).connection.on('readyForQuery', () => roundTrips++));
  orm = await createOrm(db.appUrl, { pool: { min: 1, max: 1 }, driverOptions: { onPoolCreated: count } });
  await inTenant(orm, A, async () => undefined); // the connection is open
});
afterAll(async () => {
  await orm.close();
  await db.close();
});

async function roundTripsOf(fn: () => Promise<unknown>): Promise<number> {
  roundTrips = 0;
  await fn();
  return roundTrips;
}

test('begin, the tenant setting and the opening read are one round trip, commit another', async () => {
  let seen: unknown[] = [];
  const trips = await roundTripsOf(() =>
    inTenant(orm, A, async (_em, rows) => void (seen = rows), { opening: { sql: 'select name from product where sku = ?', params: ['SKU'] } }),
  );
  expect(trips).toBe(2);
  expect(seen).toEqual([{ name: 'opening-a' }]); // RLS applied to it: only A's row, though the SQL names no tenant
});

test('without an opening read, begin and the setting are one round trip; each statement after it one more', async () => {
  let names: string[] = [];
  const trips = await roundTripsOf(() => inTenant(orm, B, async (em) => void (names = (await em.find(Product, {})).map((p) => p.name))));
  expect(trips).toBe(3); // begin + set_config, the find, commit
  expect(names).toEqual(['opening-b']);
});
