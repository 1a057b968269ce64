/**
 * `ensureSuperadmin` runs in every server started with SUPERADMIN_EMAIL, and servers start together
 * (a deployment scaled to several processes): the one that loses the race to insert must start anyway.
 */
import { randomUUID } from 'node:crypto';
import { PasswordHasher } from '../../src/auth/passwords.js';
import { ensureSuperadmin } from '../../src/auth/superadmin.js';
import { loadConfig } from '../../src/config.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { backendsWaitingOnLocks, settledCount } from '../support/locks.js';
import { TEST_ENV } from '../support/server.js';

let db: TestDatabase;
const passwords = new PasswordHasher(loadConfig(TEST_ENV).passwordHashing);

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db?.close());

test('creates the superadmin once; a second call finds it', async () => {
  expect(await ensureSuperadmin(db.orm, passwords, 'First@Platform.example.com', 'correct horse battery staple')).toBe(true);
  expect(await ensureSuperadmin(db.orm, passwords, 'first@platform.example.com', 'correct horse battery staple')).toBe(false);
  const { rows } = await db.owner.query(`select count(*)::int as n from "user" where role = 'SUPERADMIN' and email = 'first@platform.example.com'`);
  expect(rows[0].n).toBe(1);
});

test('losing the race to create it (another process inserted it after this one looked) is no error: it exists', async () => {
  const email = 'raced@platform.example.com';
  const other = await db.owner.connect();
  try {
    // Another process's insert, not yet committed: ensureSuperadmin does not see it, and its own insert
    // waits on the unique index until the other commits, then violates it.
    await other.query('begin');
    await other.query(`insert into "user" (id, tenant_id, email, role, password_hash, created_at) values ($1, null, $2, 'SUPERADMIN', 'x', now())`, [randomUUID(), email]);
    const ensured = ensureSuperadmin(db.orm, passwords, email, 'correct horse battery staple');
    await settledCount(() => backendsWaitingOnLocks(db.owner), 1);
    await other.query('commit');
    expect(await ensured).toBe(false);
  } finally {
    other.release();
  }
  const { rows } = await db.owner.query(`select count(*)::int as n from "user" where email = $1`, [email]);
  expect(rows[0].n).toBe(1);
});
