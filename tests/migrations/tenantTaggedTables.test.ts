/**
 * The TenantTaggedTables migration on a database that already holds sessions: refresh tokens get
 * their user's tenant, and those issued before it (which can no longer be presented: tokens now name
 * their scope) are marked revoked; users are active.
 */
import pg from 'pg';
import { randomUUID } from 'node:crypto';
import { withClient } from '../../src/db/database.js';
import { createOrm, type Orm } from '../../src/db/orm.js';
import { databaseUrl } from '../support/db.js';

const name = `migration_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
let orm: Orm;
let owner: pg.Pool;
const tenant = randomUUID();
const user = randomUUID();
const superadmin = randomUUID();

beforeAll(async () => {
  await withClient(databaseUrl('postgres'), (c) => c.query(`create database ${name}`));
  orm = await createOrm(databaseUrl(name), { pool: { min: 0, max: 1 } });
  owner = new pg.Pool({ connectionString: databaseUrl(name), max: 1 });
  await orm.migrator.up({ to: 'Migration20261125010000Migrator' });
  await owner.query(`insert into tenant (id, name, slug, created_at) values ($1, 'T', 'before-t', now())`, [tenant]);
  const u = `insert into "user" (id, tenant_id, email, role, password_hash, created_at) values ($1, $2, $3, $4, 'x', now())`;
  await owner.query(u, [user, tenant, 'u@t.example.com', 'ADMIN']);
  await owner.query(u, [superadmin, null, 'root@example.com', 'SUPERADMIN']);
  const t = `insert into refresh_token (id, user_id, family_id, token_hash, expires_at, spent_at, created_at) values (gen_random_uuid(), $1, gen_random_uuid(), $2, now() + interval '1 day', $3, now())`;
  await owner.query(t, [user, 'live-tenant', null]);
  await owner.query(t, [user, 'spent-tenant', '2026-01-01T00:00:00Z']);
  await owner.query(t, [superadmin, 'live-platform', null]);
  await orm.migrator.up();
});

afterAll(async () => {
  await orm?.close();
  await owner?.end();
  await withClient(databaseUrl('postgres'), (c) => c.query(`drop database if exists ${name} with (force)`));
});

test("refresh tokens get their user's tenant (null for a superadmin's)", async () => {
  const { rows } = await owner.query('select token_hash, tenant_id from refresh_token order by token_hash');
  expect(rows).toEqual([
    { token_hash: 'live-platform', tenant_id: null },
    { token_hash: 'live-tenant', tenant_id: tenant },
    { token_hash: 'spent-tenant', tenant_id: tenant },
  ]);
});

test('refresh tokens issued before it are all revoked; spent ones keep when they were spent', async () => {
  const { rows } = await owner.query(`select token_hash, revoked_at is not null as revoked, spent_at from refresh_token order by token_hash`);
  expect(rows).toEqual([
    { token_hash: 'live-platform', revoked: true, spent_at: null },
    { token_hash: 'live-tenant', revoked: true, spent_at: null },
    { token_hash: 'spent-tenant', revoked: true, spent_at: new Date('2026-01-01T00:00:00Z') },
  ]);
});

test('existing users are active', async () => {
  const { rows } = await owner.query('select id, is_active from "user" order by email');
  expect(rows).toEqual([
    { id: superadmin, is_active: true },
    { id: user, is_active: true },
  ]);
});
