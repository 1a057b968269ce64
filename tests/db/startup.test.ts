/**
 * RLS silently does not apply to superusers, BYPASSRLS roles and table owners, and an INHERIT member of
 * the platform role would get its allow-all policies on every request. The server refuses to start as
 * any of them, with a message that says what is wrong and how to fix it.
 */
import { randomBytes } from 'node:crypto';
import { loadConfig } from '../../src/config.js';
import { assertSubjectToRls, openDatabase } from '../../src/db/database.js';
import { createOrm } from '../../src/db/orm.js';
import { APP_ROLE, PLATFORM_ROLE } from '../../src/db/roles.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

let db: TestDatabase;
/** Roles are cluster-wide: unique names, dropped afterwards. */
const suffix = randomBytes(4).toString('hex');
const roles: string[] = [];
const PASSWORD = 'startup-test-password';

async function loginRole(name: string, attributes: string): Promise<string> {
  const role = `startup_${name}_${suffix}`;
  await db.owner.query(`create role ${role} login password '${PASSWORD}' ${attributes}`);
  roles.push(role);
  const url = new URL(db.ownerUrl);
  url.username = role;
  url.password = PASSWORD;
  return url.toString();
}

/** The message assertSubjectToRls gives for an ORM connected to `url`, or 'accepted'. */
async function verdict(url: string): Promise<string> {
  const orm = await createOrm(url, { pool: { min: 0, max: 1 } });
  try {
    await assertSubjectToRls(orm);
    return 'accepted';
  } catch (err) {
    return (err as Error).message;
  } finally {
    await orm.close();
  }
}

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  for (const role of roles) {
    await db.owner.query(`drop owned by ${role}`);
    await db.owner.query(`drop role ${role}`);
  }
  await db?.close();
});

test('refuses the superuser owner, naming the problem and the fix', async () => {
  const message = await verdict(db.ownerUrl);
  expect(message).toMatch(/^Refusing to start: database role "postgres" is a superuser/);
  expect(message).toMatch(/row-level security would not isolate tenants/);
  expect(message).toContain(`Connect the app as "${APP_ROLE}"`);
  expect(message).toMatch(/APP_DATABASE_URL or APP_DB_PASSWORD/);
});

test('accepts the app role', async () => {
  expect(await verdict(db.appUrl)).toBe('accepted');
});

test('refuses a role with BYPASSRLS', async () => {
  expect(await verdict(await loginRole('bypass', 'nosuperuser bypassrls noinherit'))).toMatch(/"startup_bypass_\w+" has BYPASSRLS/);
});

test('refuses a role that owns tables', async () => {
  const url = await loginRole('owner', 'nosuperuser nobypassrls noinherit');
  const role = roles.at(-1)!;
  await db.owner.query(`create table owned_${suffix} (id int)`);
  await db.owner.query(`alter table owned_${suffix} owner to ${role}`);
  expect(await verdict(url)).toMatch(/owns 1 relation\(s\) outside the job queue's schema/);
});

test('refuses a role that owns a relation in another schema', async () => {
  const url = await loginRole('elsewhere', 'nosuperuser nobypassrls noinherit');
  const role = roles.at(-1)!;
  await db.owner.query(`create schema side_${suffix}`);
  await db.owner.query(`create sequence side_${suffix}.seq`);
  await db.owner.query(`alter sequence side_${suffix}.seq owner to ${role}`);
  expect(await verdict(url)).toMatch(/owns 1 relation\(s\)/);
  await db.owner.query(`drop schema side_${suffix} cascade`);
});

test('refuses a NOINHERIT role that can SET ROLE to a BYPASSRLS role', async () => {
  const privileged = `startup_privileged_${suffix}`;
  await db.owner.query(`create role ${privileged} nologin bypassrls`);
  roles.push(privileged);
  const url = await loginRole('climber', 'nosuperuser nobypassrls noinherit');
  await db.owner.query(`grant ${privileged} to ${roles.at(-1)!}`);
  expect(await verdict(url)).toMatch(new RegExp(`can SET ROLE to ${privileged} \\(superuser or BYPASSRLS\\)`));
});

test('refuses an INHERIT member of the platform role', async () => {
  const url = await loginRole('inherit', 'nosuperuser nobypassrls inherit');
  await db.owner.query(`grant ${PLATFORM_ROLE} to ${roles.at(-1)!}`);
  expect(await verdict(url)).toMatch(/has INHERIT/);
});

test('openDatabase refuses to start when the app connection is the superuser owner', async () => {
  const config = loadConfig({ DATABASE_URL: db.ownerUrl, APP_DATABASE_URL: db.ownerUrl, NODE_ENV: 'test' });
  await expect(openDatabase(config, { migrate: false, poolSize: 1 })).rejects.toThrow(/Refusing to start: .* is a superuser/);
});
