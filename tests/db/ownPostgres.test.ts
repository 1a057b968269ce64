/**
 * Running on your own PostgreSQL with the privileges README documents: a DATABASE_URL role that is no
 * superuser, has CREATEROLE and owns the database. The migrations create the app and platform roles,
 * the server gives the app role its login and serves, and tenants stay isolated; the Host lookup
 * function is handed to its role, and rows from before a migration are rewritten before RLS hides them
 * from the owner. On a cluster of its own, so the roles do not exist yet (roles are cluster-wide), as on
 * a fresh server.
 */
import { randomUUID } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort } from '../../bench/harness.js';
import { loadConfig } from '../../src/config.js';
import { migrate, withClient } from '../../src/db/database.js';
import { type EmbeddedServer, startEmbeddedPostgres } from '../../src/db/embedded.js';
import { createOrm } from '../../src/db/orm.js';
import { APP_ROLE, HOST_LOOKUP_FUNCTION, HOST_LOOKUP_ROLE } from '../../src/db/roles.js';
import { type RunningServer, startServer } from '../../src/server/start.js';
import { createProduct, readyTenant } from '../support/fixtures.js';
import { gql, TEST_ENV } from '../support/server.js';

const OWNER = 'tenantry_owner';
const OWNER_PASSWORD = 'owner-password-0123456789';
const DATABASE = 'tenantry_own';

let dir: string;
let cluster: EmbeddedServer;
let ownerUrl: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'tenantry-own-pg-'));
  await chmod(dir, 0o755); // the `postgres` OS user must traverse it when we run as root
  cluster = await startEmbeddedPostgres(dir, await freePort());
  await withClient(cluster.url('postgres'), async (c) => {
    await c.query(`create role ${OWNER} login createrole nosuperuser nobypassrls password ${pg.escapeLiteral(OWNER_PASSWORD)}`);
    await c.query(`create database ${DATABASE} owner ${OWNER}`);
  });
  const url = new URL(cluster.url(DATABASE));
  url.username = OWNER;
  url.password = OWNER_PASSWORD;
  ownerUrl = url.toString();
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
  await rm(dir, { recursive: true, force: true });
});

test('the owner is what README documents: no superuser, CREATEROLE, owns the database', async () => {
  const { rows } = await withClient(ownerUrl, (c) =>
    c.query(`select r.rolsuper, r.rolcreaterole, r.rolbypassrls, d.datdba = r.oid as owns_database
               from pg_roles r, pg_database d where r.rolname = current_user and d.datname = current_database()`),
  );
  expect(rows).toEqual([{ rolsuper: false, rolcreaterole: true, rolbypassrls: false, owns_database: true }]);
});

describe('with a CREATEROLE owner that is no superuser', () => {
  let server: RunningServer;
  let url: string;

  beforeAll(async () => {
    await migrate(ownerUrl);
    server = await startServer(loadConfig({ ...TEST_ENV, DATABASE_URL: ownerUrl, PORT: String(await freePort()), LOG_LEVEL: 'silent' }));
    url = `http://127.0.0.1:${server.port}/graphql`;
  }, 60_000);
  afterAll(() => server?.stop());

  test('the migrations created the app role NOINHERIT, without SUPERUSER or BYPASSRLS, and the server logs in as it', async () => {
    const { rows } = await withClient(ownerUrl, (c) =>
      c.query(`select rolinherit, rolsuper, rolbypassrls, rolcanlogin,
                      (select count(*)::int from pg_stat_activity where usename = $1 and datname = current_database()) as sessions
                 from pg_roles where rolname = $1`, [APP_ROLE]),
    );
    expect(rows).toEqual([{ rolinherit: false, rolsuper: false, rolbypassrls: false, rolcanlogin: true, sessions: expect.any(Number) }]);
    expect(rows[0].sessions).toBeGreaterThan(0);
  });

  test('two tenants sign up, get prepared and keep their products apart', async () => {
    const a = await readyTenant({ url }, 'own-pg-a');
    const b = await readyTenant({ url }, 'own-pg-b');
    await createProduct({ url }, { token: a.token }, 'A-1');
    const skus = async (token: string) => (await gql({ url }, `{ products { edges { node { sku } } } }`, {}, { token })).body.data.products.edges.map((e: { node: { sku: string } }) => e.node.sku);
    expect(await skus(a.token)).toEqual(['A-1']);
    expect(await skus(b.token)).toEqual([]);
  });

  test('the Host lookup function was handed to its role, and the owner kept nothing it took for that', async () => {
    const { rows } = await withClient(cluster.url(DATABASE), (c) =>
      c.query(
        `select p.proowner::regrole::text as owner,
                has_function_privilege($1, p.oid, 'execute') as app_executes,
                has_schema_privilege($2, 'public', 'create') as lookup_creates,
                exists (select 1 from pg_auth_members m where m.roleid = $2::regrole and m.member = $3::regrole and (m.set_option or m.inherit_option)) as owner_member
           from pg_proc p where p.proname = $4`,
        [APP_ROLE, HOST_LOOKUP_ROLE, OWNER, HOST_LOOKUP_FUNCTION],
      ),
    );
    expect(rows).toEqual([{ owner: HOST_LOOKUP_ROLE, app_executes: true, lookup_creates: false, owner_member: false }]);
  });

  test('migrating again (a second server starting) changes nothing and fails nothing', async () => {
    await expect(migrate(ownerUrl)).resolves.toBeUndefined();
  });
});

describe('an app role that already exists with wrong attributes (roles are cluster-wide)', () => {
  async function migrateNewDatabase(name: string): Promise<void> {
    await withClient(cluster.url('postgres'), (c) => c.query(`create database ${name} owner ${OWNER}`));
    const url = new URL(ownerUrl);
    url.pathname = `/${name}`;
    await migrate(url.toString());
  }
  const appRole = async () => (await withClient(cluster.url('postgres'), (c) => c.query(`select rolinherit, rolsuper from pg_roles where rolname = $1`, [APP_ROLE]))).rows[0];

  test('INHERIT is corrected to NOINHERIT by the CREATEROLE owner', async () => {
    await withClient(ownerUrl, (c) => c.query(`alter role ${APP_ROLE} inherit`));
    await migrateNewDatabase('tenantry_own_inherit');
    expect(await appRole()).toEqual({ rolinherit: false, rolsuper: false });
  });

  test('a superuser app role stops the migration (only a superuser may take that away)', async () => {
    await withClient(cluster.url('postgres'), (c) => c.query(`alter role ${APP_ROLE} superuser`));
    try {
      await expect(migrateNewDatabase('tenantry_own_super')).rejects.toThrow(/permission denied to alter role/);
    } finally {
      await withClient(cluster.url('postgres'), (c) => c.query(`alter role ${APP_ROLE} nosuperuser`));
    }
  });
});

test('domains from before the domain verification migration are sorted by it, then put under RLS (RLS would hide them from this owner)', async () => {
  const name = 'tenantry_own_domains';
  await withClient(cluster.url('postgres'), (c) => c.query(`create database ${name} owner ${OWNER}`));
  const url = new URL(ownerUrl);
  url.pathname = `/${name}`;
  const orm = await createOrm(url.toString(), { pool: { min: 0, max: 1 } });
  try {
    await orm.migrator.up({ to: 'Migration20261126000000MigratorReport' });
  } finally {
    await orm.close();
  }
  const tenant = randomUUID();
  await withClient(url.toString(), async (c) => {
    await c.query(`insert into tenant (id, name, slug, status, created_at) values ($1, 'Own', 'own', 'READY', now())`, [tenant]);
    await c.query(
      `insert into domain (id, tenant_id, hostname, is_primary, is_active, created_at)
       values (gen_random_uuid(), $1, 'own.base.example', true, true, now()), (gen_random_uuid(), $1, 'shop.own.example', false, true, now())`,
      [tenant],
    );
  });
  await migrate(url.toString(), { baseDomain: 'base.example' });
  const { rows } = await withClient(cluster.url(name), (c) =>
    c.query(`select hostname, verified_at is not null as verified, is_active as active, verification_token is not null as claim from domain order by hostname`),
  );
  expect(rows).toEqual([
    { hostname: 'own.base.example', verified: true, active: true, claim: false },
    { hostname: 'shop.own.example', verified: false, active: false, claim: true },
  ]);
});
