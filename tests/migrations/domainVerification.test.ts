/**
 * The domain verification migration on a database from before it: every row was active the moment it
 * was added, squatted names under BASE_DOMAIN included.
 */
import pg from 'pg';
import { randomUUID } from 'node:crypto';
import { migrate, withClient } from '../../src/db/database.js';
import { createOrm } from '../../src/db/orm.js';
import { prepareTenant } from '../../src/jobs/prepareTenant.js';
import { databaseUrl } from '../support/db.js';

const BASE = 'tenantry.test';
const BEFORE = 'Migration20261125010000Migrator';
const names: string[] = [];

/** A new database migrated up to the migration before this one. */
async function databaseBefore(): Promise<string> {
  const name = `test_domains_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  await withClient(databaseUrl('postgres'), (c) => c.query(`create database ${pg.escapeIdentifier(name)}`));
  names.push(name);
  const url = databaseUrl(name);
  const orm = await createOrm(url, { pool: { min: 0, max: 1 } });
  try {
    await orm.migrator.up({ to: BEFORE });
  } finally {
    await orm.close();
  }
  return url;
}

afterAll(async () => {
  await withClient(databaseUrl('postgres'), async (c) => {
    for (const name of names) await c.query(`drop database if exists ${pg.escapeIdentifier(name)} with (force)`);
  });
});

const query = (url: string, sql: string, params: unknown[] = []) => withClient(url, (c) => c.query(sql, params));

async function seed(url: string) {
  const [alpha, bravo, victim] = [randomUUID(), randomUUID(), randomUUID()];
  await query(url, `insert into tenant (id, name, slug, status, created_at) values ($1, 'Alpha', 'alpha', 'READY', now()), ($2, 'Bravo', 'bravo', 'READY', now()), ($3, 'Victim', 'victim', 'FAILED', now())`, [alpha, bravo, victim]);
  const rows: [string, string, boolean][] = [
    [alpha, `alpha.${BASE}`, true],
    [alpha, 'shop.alpha.example', false],
    [alpha, `victim.${BASE}`, false], // squatted before the victim signed up: its preparation failed
    [alpha, `api.${BASE}`, false],
    [bravo, `bravo.${BASE}`, false],
    [bravo, 'www.bravo.example', true], // a custom primary, never proven
  ];
  for (const [tenant, hostname, primary] of rows) {
    await query(url, `insert into domain (id, tenant_id, hostname, is_primary, is_active, created_at) values ($1, $2, $3, $4, true, now() - interval '1 day')`, [randomUUID(), tenant, hostname, primary]);
  }
  return { alpha, bravo, victim };
}

test("keeps each tenant's own <slug>.BASE_DOMAIN verified and primary, and turns every other row into an unverified claim", async () => {
  const url = await databaseBefore();
  const { alpha, bravo } = await seed(url);
  await migrate(url, { baseDomain: BASE });

  const { rows } = await query(
    url,
    `select tenant_id as tenant, hostname, verified_at is not null as verified, is_active as active, is_primary as primary,
            primary_on_verification as "primaryOnVerification", verification_token ~ '^[0-9a-f]{32}$' as token,
            round(extract(epoch from verification_expires_at - now()) / 86400) as "expiresInDays"
       from domain order by hostname`,
  );
  const verified = { verified: true, active: true, token: null, expiresInDays: null, primaryOnVerification: false };
  const claim = { verified: false, active: false, primary: false, token: true, expiresInDays: '7' };
  expect(rows).toEqual([
    { tenant: alpha, hostname: `alpha.${BASE}`, primary: true, ...verified },
    { tenant: alpha, hostname: `api.${BASE}`, primaryOnVerification: false, ...claim },
    { tenant: bravo, hostname: `bravo.${BASE}`, primary: true, ...verified },
    { tenant: alpha, hostname: 'shop.alpha.example', primaryOnVerification: false, ...claim },
    { tenant: alpha, hostname: `victim.${BASE}`, primaryOnVerification: false, ...claim },
    { tenant: bravo, hostname: 'www.bravo.example', primaryOnVerification: true, ...claim },
  ]);
});

test('a tenant whose preparation failed on a squatted name prepares READY after it, with its own verified domain', async () => {
  const url = await databaseBefore();
  const { victim } = await seed(url);
  await migrate(url, { baseDomain: BASE });
  await query(url, `update tenant set status = 'PENDING' where id = $1`, [victim]); // what retryTenantPreparation does
  const orm = await createOrm(url, { pool: { min: 0, max: 2 } });
  try {
    expect(await prepareTenant(orm, victim, BASE)).toBe('prepared');
  } finally {
    await orm.close();
  }
  const { rows } = await query(
    url,
    `select t.status::text, d.verified_at is not null as verified, d.is_primary as primary from tenant t join domain d on d.tenant_id = t.id where t.id = $1`,
    [victim],
  );
  expect(rows).toEqual([{ status: 'READY', verified: true, primary: true }]);
});

test('a database holding domains is refused without BASE_DOMAIN, and left as it was', async () => {
  const url = await databaseBefore();
  await seed(url);
  await expect(migrate(url)).rejects.toThrow(/BASE_DOMAIN/);
  const { rows } = await query(url, `select count(*)::int as n from information_schema.columns where table_name = 'domain' and column_name = 'verified_at'`);
  expect(rows).toEqual([{ n: 0 }]);
});
