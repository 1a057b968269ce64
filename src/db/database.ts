import { createHmac } from 'node:crypto';
import pg from 'pg';
import type { Config, DatabaseLimits } from '../config.js';
import { migrationsList } from '../migrations/index.js';
import { JOB_SCHEMA } from '../migrations/Migration20261125001000JobQueue.js';
import { BASE_DOMAIN_SETTING } from '../migrations/Migration20261126100000DomainVerification.js';
import { EMBEDDED_DATABASE, startEmbeddedPostgres } from './embedded.js';
import { createOrm, type Orm, servingConnectionOptions } from './orm.js';
import { APP_ROLE } from './roles.js';

export interface Database {
  /** The app-role ORM every request and job uses. */
  readonly orm: Orm;
  readonly ownerUrl: string;
  readonly appUrl: string;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** Apply pending migrations as the owner first (the server does; tests migrate a template once). */
  readonly migrate?: boolean;
  readonly poolSize?: number;
  /** The API server's bounds on its connections (they replace `poolSize`); none for CLI tools and workers. */
  readonly serving?: DatabaseLimits;
}

/**
 * Connects the process to Postgres: the embedded server unless `DATABASE_URL` is set, migrations as
 * the owner, then the app-role ORM, checked to be subject to RLS before anything uses it.
 */
export async function openDatabase(config: Config, options: OpenOptions = {}): Promise<Database> {
  const embedded = config.databaseUrl ? undefined : await startEmbeddedPostgres(config.dataDir, config.embeddedPgPort);
  const ownerUrl = config.databaseUrl ?? embedded!.url(EMBEDDED_DATABASE);
  if (embedded) await ensureDatabaseExists(embedded.url('postgres'), EMBEDDED_DATABASE);

  if (options.migrate ?? true) await migrate(ownerUrl, { baseDomain: config.baseDomain });
  const appUrl = config.appDatabaseUrl ?? (await enableAppRoleLogin(ownerUrl, appDbPassword(config, ownerUrl)));
  const orm = await createOrm(appUrl, options.serving ? servingConnectionOptions(options.serving) : { pool: { min: 0, max: options.poolSize ?? 10 } });
  try {
    await assertSubjectToRls(orm);
  } catch (err) {
    await orm.close();
    throw err;
  }
  return {
    orm,
    ownerUrl,
    appUrl,
    close: async () => {
      await orm.close();
      await embedded?.stop();
    },
  };
}

/**
 * The app role's password: APP_DB_PASSWORD, else derived from the owner's credentials (HMAC), so every
 * process given the same owner (servers, workers, CLI) agrees on it without storing anything, and
 * nobody without the owner's password can compute it. Roles are cluster-wide: the derivation leaves the
 * database name out, so databases of one cluster never reset each other's app password.
 */
export function appDbPassword(config: Pick<Config, 'appDbPassword'>, ownerUrl: string): string {
  if (config.appDbPassword) return config.appDbPassword;
  const owner = new URL(ownerUrl);
  return createHmac('sha256', `${owner.username}:${decodeURIComponent(owner.password)}`).update(`${APP_ROLE}@${owner.host}`).digest('base64url');
}

/** Advisory lock key that serializes migrations across processes. */
export const MIGRATION_LOCK = 7_236_002;

export interface MigrateOptions {
  /**
   * The deployment's BASE_DOMAIN, for migrations that sort existing rows by it (the domain
   * verification migration). Unset, such a migration refuses a database that has rows to sort; an
   * empty database (tests' template, benchmarks) needs none.
   */
  readonly baseDomain?: string;
}

/**
 * Applies pending migrations as the owner. Idempotent, and safe when several processes (servers,
 * workers) start at once: they take turns on an advisory lock.
 */
export async function migrate(ownerUrl: string, options: MigrateOptions = {}): Promise<void> {
  await withClient(ownerUrl, async (lock) => {
    await lock.query('select pg_advisory_lock($1)', [MIGRATION_LOCK]);
    // Handed over as a setting of the migration connection (config.ts has checked it is a hostname).
    const driverOptions = options.baseDomain ? { options: `-c ${BASE_DOMAIN_SETTING}=${options.baseDomain}` } : undefined;
    const orm = await createOrm(ownerUrl, { pool: { min: 0, max: 1 }, driverOptions });
    try {
      await orm.migrator.up();
    } finally {
      await orm.close();
      await lock.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK]);
    }
  });
}

/** What ALTER ROLE says when another transaction changed the role's row after this one read it. */
const ROLE_CONCURRENTLY_UPDATED = 'tuple concurrently updated';
const ROLE_UPDATE_ATTEMPTS = 5;

/**
 * Gives the app role a login with `password` and returns its connection URL on the owner's server.
 *
 * Every server and worker does this at start, and processes start together (a deployment scaled to
 * several). An ALTER ROLE that meets another process's change of the role's row waits for it to commit
 * and then fails ("tuple concurrently updated") rather than apply itself on top; the other change has
 * committed by then, so the next attempt reads it and goes through.
 */
export async function enableAppRoleLogin(ownerUrl: string, password: string): Promise<string> {
  await withClient(ownerUrl, async (c) => {
    for (let attempt = 1; ; attempt++) {
      try {
        await c.query(`alter role ${APP_ROLE} with login password ${pg.escapeLiteral(password)}`);
        return;
      } catch (err) {
        if (attempt === ROLE_UPDATE_ATTEMPTS || (err as Error).message !== ROLE_CONCURRENTLY_UPDATED) throw err;
      }
    }
  });
  const url = new URL(ownerUrl);
  url.username = APP_ROLE;
  url.password = password;
  return url.toString();
}

/**
 * RLS silently does not apply to superusers, BYPASSRLS roles and (without FORCE) table owners, and an
 * INHERIT member of the platform role would get its allow-all policies on every request. Refuse to run
 * as any of those.
 */
export async function assertSubjectToRls(orm: Orm): Promise<void> {
  const [role] = await orm.em.getConnection().execute<
    { rolname: string; rolsuper: boolean; rolbypassrls: boolean; rolinherit: boolean; owned: number; privileged_member_of: string | null }[]
  >(
    `select r.rolname, r.rolsuper, r.rolbypassrls, r.rolinherit,
            (select count(*)::int from pg_class c join pg_namespace n on n.oid = c.relnamespace
              where c.relowner = r.oid and n.nspname not in ('pg_catalog', 'information_schema', ?)
                and n.nspname not like 'pg_toast%') as owned,
            (select string_agg(p.rolname, ', ') from pg_roles p
              where (p.rolsuper or p.rolbypassrls) and p.oid <> r.oid and pg_has_role(r.oid, p.oid, 'MEMBER')) as privileged_member_of
       from pg_roles r where r.rolname = current_user`,
    [JOB_SCHEMA],
  );
  const problems = [
    role.rolsuper && 'is a superuser',
    role.rolbypassrls && 'has BYPASSRLS',
    role.owned > 0 && `owns ${role.owned} relation(s) outside the job queue's schema`,
    role.privileged_member_of && `can SET ROLE to ${role.privileged_member_of} (superuser or BYPASSRLS)`,
    role.rolinherit && 'has INHERIT (the platform role would apply to every request)',
  ].filter(Boolean);
  if (problems.length > 0) {
    throw new Error(
      `Refusing to start: database role "${role.rolname}" ${problems.join(', ')}, so row-level security would not isolate tenants. ` +
        `Connect the app as "${APP_ROLE}" (created by the migrations: NOSUPERUSER NOBYPASSRLS NOINHERIT, owning nothing) ` +
        `via APP_DATABASE_URL or APP_DB_PASSWORD, and keep DATABASE_URL for the owner.`,
    );
  }
}

/** Migrations listed in code that the database has not applied (for /readyz). */
export async function pendingMigrationNames(orm: Orm): Promise<string[]> {
  const rows = await orm.em.getConnection().execute<{ name: string }[]>(`select name from mikro_orm_migrations`);
  const applied = new Set(rows.map((r) => r.name));
  return migrationsList.map((m) => m.name).filter((n) => !applied.has(n));
}

export async function ensureDatabaseExists(maintenanceUrl: string, database: string): Promise<void> {
  await withClient(maintenanceUrl, async (c) => {
    const { rowCount } = await c.query('select 1 from pg_database where datname = $1', [database]);
    if (!rowCount) await c.query(`create database ${pg.escapeIdentifier(database)}`);
  });
}

export async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
