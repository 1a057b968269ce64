import pg from 'pg';
import { appDbPassword, enableAppRoleLogin, migrate, withClient } from '../../src/db/database.js';
import { createOrm, type Orm } from '../../src/db/orm.js';

const TEMPLATE = 'tenantry_template';
const TEMPLATE_LOCK = 7_236_001;

export interface TestDatabase {
  /** The app-role ORM, exactly as the server opens it. */
  readonly orm: Orm;
  readonly ownerUrl: string;
  readonly appUrl: string;
  /** Superuser pool on the same database: to look at rows as they really are, RLS aside. */
  readonly owner: pg.Pool;
  close(): Promise<void>;
}

function serverUrl(): string {
  const url = process.env.TEST_DATABASE_URL;
  if (!url) throw new Error('TEST_DATABASE_URL is not set: run the tests through jest (tests/support/globalSetup.mjs)');
  return url;
}

export function databaseUrl(database: string): string {
  const url = new URL(serverUrl());
  url.pathname = `/${database}`;
  return url.toString();
}

/** A fresh, migrated database of its own for one test file. */
export async function createTestDatabase(options: { poolSize?: number } = {}): Promise<TestDatabase> {
  const name = `test_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
  await withClient(serverUrl(), async (c) => {
    await c.query('select pg_advisory_lock($1)', [TEMPLATE_LOCK]);
    try {
      const { rowCount } = await c.query('select 1 from pg_database where datname = $1', [TEMPLATE]);
      if (!rowCount) {
        await c.query(`create database ${TEMPLATE}`);
        await migrate(databaseUrl(TEMPLATE));
      }
      await c.query(`create database ${pg.escapeIdentifier(name)} template ${TEMPLATE}`);
    } finally {
      await c.query('select pg_advisory_unlock($1)', [TEMPLATE_LOCK]);
    }
  });
  const ownerUrl = databaseUrl(name);
  // The same password the server derives, so a server started on DATABASE_URL alone changes nothing.
  const appUrl = await enableAppRoleLogin(ownerUrl, appDbPassword({}, ownerUrl));
  const orm = await createOrm(appUrl, { pool: { min: 0, max: options.poolSize ?? 10 } });
  const owner = new pg.Pool({ connectionString: ownerUrl, max: 3 });
  // pg-pool's end() resolves before its idle clients' sockets are closed; when the run's last file ends,
  // globalTeardown stops Postgres, which terminates them, and an unheard pool 'error' crashed the process.
  owner.on('error', () => undefined);
  return {
    orm,
    ownerUrl,
    appUrl,
    owner,
    close: async () => {
      await orm.close();
      await owner.end();
    },
  };
}
