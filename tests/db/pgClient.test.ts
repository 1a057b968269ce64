/**
 * The server's Postgres client (src/db/pgClient.ts): `begin` travels with the next statement, in one
 * round trip, and that statement still runs inside the transaction; a read-only transaction's `commit`
 * travels with the connection's next message, which runs after it; a batch of reads answers with every
 * statement's rows. Round trips are counted as the
 * server counts them: one ReadyForQuery per message answered.
 */
import pg from 'pg';
import { batchOf, DeferredBeginClient, resetDeferredBeginOnCheckout } from '../../src/db/pgClient.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

let db: TestDatabase;
let pool: pg.Pool;
let roundTrips = 0;

beforeAll(async () => {
  db = await createTestDatabase();
  pool = new pg.Pool({ connectionString: db.ownerUrl, max: 1, Client: DeferredBeginClient });
  resetDeferredBeginOnCheckout(pool);
  pool.on('connect', (client) => (client as unknown as { connection: pg.Connection }).connection.on('readyForQuery', () => roundTrips++));
});
afterAll(async () => {
  await pool.end();
  await db.close();
});

/** Runs `fn` on the pool's one client and returns the round trips it took. */
async function countRoundTrips(fn: (client: pg.PoolClient) => Promise<void>): Promise<number> {
  const client = await pool.connect();
  try {
    roundTrips = 0;
    await fn(client);
    return roundTrips;
  } finally {
    client.release();
  }
}

const setting = async (client: pg.PoolClient) => (await client.query(`select current_setting('test.value', true) as v`)).rows[0].v as string | null;

test('begin and the first statement are one round trip, and the statement runs inside the transaction', async () => {
  const trips = await countRoundTrips(async (client) => {
    await client.query('begin');
    await client.query(`select set_config('test.value', 'inside', true)`);
    expect(await setting(client)).toBe('inside'); // transaction-local: still the same transaction
    await client.query('commit');
    expect(await setting(client)).toBe(''); // gone with the transaction
  });
  expect(trips).toBe(4); // begin + set_config, the read, commit, the read after
});

test('a rolled-back transaction undoes what its first statement did', async () => {
  await db.owner.query('create table if not exists deferred_begin_probe (n int)');
  await countRoundTrips(async (client) => {
    await client.query('begin');
    await client.query('insert into deferred_begin_probe values (1)');
    await client.query('rollback');
  });
  expect((await db.owner.query('select count(*)::int as n from deferred_begin_probe')).rows[0].n).toBe(0);
});

test('a transaction that sends nothing costs no round trip', async () => {
  expect(await countRoundTrips(async (client) => {
    await client.query('begin');
    await client.query('commit');
    await client.query('begin');
    await client.query('rollback');
  })).toBe(0);
});

test('a statement with parameters after begin runs inside the transaction too (begin sent ahead of it)', async () => {
  const trips = await countRoundTrips(async (client) => {
    await client.query('begin');
    await client.query(`select set_config('test.value', $1, true)`, ['bound']);
    expect(await setting(client)).toBe('bound');
    await client.query('commit');
  });
  expect(trips).toBe(4); // begin, set_config, the read, commit
});

test('a message of several statements answers with the last one’s rows', async () => {
  const client = await pool.connect();
  try {
    const result = await client.query(`select set_config('test.other', 'x', true); select current_setting('test.other') as v, 2 as n`);
    expect(result.rows).toEqual([{ v: 'x', n: 2 }]);
  } finally {
    client.release();
  }
});

test('a batch of reads answers with every statement’s rows, in order, in one round trip with the pending begin', async () => {
  let answer: pg.QueryResult | undefined;
  const trips = await countRoundTrips(async (client) => {
    await client.query('begin');
    answer = await client.query(batchOf([`select 1 as n`, `select 'two' as s, 3 as m union all select 'four', 5`]));
    await client.query('commit');
  });
  expect(answer!.rows).toEqual([[{ n: 1 }], [{ s: 'two', m: 3 }, { s: 'four', m: 5 }]]);
  expect(trips).toBe(2); // begin + the batch, commit
});

test('a checkout forgets a begin its previous holder left pending (nothing was sent)', async () => {
  const first = await pool.connect();
  await first.query('begin');
  first.release();
  await countRoundTrips(async (client) => {
    await client.query(`select set_config('test.value', 'outside', true)`);
    expect(await setting(client)).toBe(''); // no transaction: the setting ended with its own statement
  });
});

test('a read-only transaction stays read only: a write in it fails', async () => {
  await db.owner.query('create table if not exists deferred_begin_probe (n int)');
  await countRoundTrips(async (client) => {
    await client.query('start transaction read only');
    await expect(client.query('insert into deferred_begin_probe values (2)')).rejects.toThrow(/read-only transaction/);
    await client.query('rollback');
  });
  expect((await db.owner.query('select count(*)::int as n from deferred_begin_probe where n = 2')).rows[0].n).toBe(0);
});

test('a read-only transaction’s commit travels with the next message, which runs after it', async () => {
  const trips = await countRoundTrips(async (client) => {
    await client.query('start transaction read only');
    await client.query(`select set_config('test.value', 'inside', true)`);
    await client.query('commit');
    expect(await setting(client)).toBe(''); // the transaction ended before this read
  });
  expect(trips).toBe(2); // begin + set_config, commit + the read
});

test('a read-only transaction’s commit waits for the next holder of the connection, not for its first holder', async () => {
  const first = await pool.connect();
  await first.query('start transaction read only');
  await first.query(`select set_config('test.value', 'inside', true)`);
  roundTrips = 0;
  await first.query('commit');
  first.release();
  const second = await pool.connect();
  try {
    expect(await setting(second)).toBe('');
  } finally {
    second.release();
  }
  expect(roundTrips).toBe(1); // commit + the read
});

test('a read-only transaction’s commit goes out on its own when nothing follows it: no connection is left inside a transaction', async () => {
  const client = await pool.connect();
  try {
    await client.query('start transaction read only');
    await client.query('select 1');
    await client.query('commit');
    const pid = (client as unknown as { processID: number }).processID;
    const state = async () => (await db.owner.query('select state from pg_stat_activity where pid = $1', [pid])).rows[0].state as string;
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await state()).toBe('idle');
  } finally {
    client.release();
  }
});
