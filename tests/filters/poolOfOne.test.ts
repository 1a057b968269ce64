/**
 * A pool of one connection: every unit of work reuses the same Postgres backend, so anything a request
 * left on its session would be seen by the next one. The tenant setting and the platform role are
 * transaction-local, so nothing is left.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { randomUUID } from 'node:crypto';
import { APP_ROLE, TENANT_SETTING } from '../../src/db/roles.js';
import { Product } from '../../src/entities/index.js';
import { inTenant } from '../../src/filters/inTenant.js';
import { asPlatform } from '../../src/filters/platform.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

const A = randomUUID();
const B = randomUUID();
let db: TestDatabase;

interface Session {
  pid: number;
  tenant: string | null;
  role: string;
}

const SESSION_SQL = `select pg_backend_pid() as pid, current_setting('${TENANT_SETTING}', true) as tenant, current_user as role`;

/** The backend and its session state, as seen by the next query outside any unit of work. */
async function nextQuerySession(): Promise<Session> {
  const [row] = await db.orm.em.fork().execute<Session[]>(SESSION_SQL);
  return row;
}

function sessionIn(em: EntityManager): Promise<Session> {
  return em.execute<Session[]>(SESSION_SQL).then(([row]) => row);
}

beforeAll(async () => {
  db = await createTestDatabase({ poolSize: 1 });
  for (const [id, slug] of [
    [A, 'pool-a'],
    [B, 'pool-b'],
  ]) {
    await db.owner.query(`insert into tenant (id, name, slug, created_at) values ($1, $2, $2, now())`, [id, slug]);
    await db.owner.query(
      `insert into product (tenant_id, id, sku, name, price_cents, created_at, updated_at) values ($1, $2, 'SKU', $3, 1, now(), now())`,
      [id, randomUUID(), slug],
    );
  }
});

afterAll(() => db?.close());

test('after tenant A’s unit of work, the next query on the same connection sees no tenant', async () => {
  const inside = await inTenant(db.orm, A, sessionIn);
  const after = await nextQuerySession();
  expect(inside.tenant).toBe(A);
  expect(after.pid).toBe(inside.pid);
  // '' once a transaction-local setting has ended (null if the session never had one): never A.
  expect(after.tenant ?? '').toBe('');
});

test('after tenant A’s unit of work, raw SQL on the same connection errors at the database instead of returning A’s rows', async () => {
  const { pid } = await inTenant(db.orm, A, async (em) => {
    expect(await em.find(Product, {})).toHaveLength(1);
    return sessionIn(em);
  });
  await expect(db.orm.em.fork().execute('select * from product')).rejects.toThrow(/invalid input syntax for type uuid/);
  expect((await nextQuerySession()).pid).toBe(pid);
});

test('after tenant A’s unit of work failed, the next query on the same connection sees no tenant', async () => {
  let pid = 0;
  await expect(
    inTenant(db.orm, A, async (em) => {
      pid = (await sessionIn(em)).pid;
      throw new Error('boom');
    }),
  ).rejects.toThrow('boom');
  const after = await nextQuerySession();
  expect(after.pid).toBe(pid);
  expect(after.tenant ?? '').toBe('');
});

test('tenant B’s unit of work on the connection tenant A just used sees only B’s rows', async () => {
  const a = await inTenant(db.orm, A, sessionIn);
  const b = await inTenant(db.orm, B, async (em) => ({
    session: await sessionIn(em),
    tenants: (await em.execute<{ tenant_id: string }[]>('select tenant_id from product')).map((r) => r.tenant_id),
  }));
  expect(b.session.pid).toBe(a.pid);
  expect(b.session.tenant).toBe(B);
  expect(b.tenants).toEqual([B]);
});

test('after asPlatform, the next query on the same connection is back to the app role', async () => {
  const inside = await asPlatform(db.orm, { action: 'test.poolOfOne' }, sessionIn);
  const after = await nextQuerySession();
  expect(inside.role).not.toBe(APP_ROLE);
  expect(after.pid).toBe(inside.pid);
  expect(after.role).toBe(APP_ROLE);
});

test('control: a session-level setting would be seen by the next query (what the tests above rule out)', async () => {
  // Shows the assertions above can fail: `set_config(…, false)` outlives the transaction.
  const { pid } = await inTenant(db.orm, A, async (em) => {
    await em.execute(`select set_config('${TENANT_SETTING}', ?, false)`, [A]);
    return sessionIn(em);
  });
  try {
    const after = await nextQuerySession();
    expect(after.pid).toBe(pid);
    expect(after.tenant).toBe(A);
  } finally {
    await db.orm.em.fork().execute(`reset "${TENANT_SETTING}"`);
  }
  expect((await nextQuerySession()).tenant ?? '').toBe('');
});
