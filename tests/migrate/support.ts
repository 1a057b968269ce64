import { spawn } from 'node:child_process';
import path from 'node:path';
import pg from 'pg';
import { withClient } from '../../src/db/database.js';
import { migrateSchemas } from '../../src/migrate/migrator.js';
import { DEFAULT_OPTIONS, type MigrateOptions } from '../../src/migrate/options.js';
import { createProgress } from '../../src/migrate/progress.js';
import type { MigrationSummary } from '../../src/migrate/report.js';
import { databaseUrl, type TestDatabase } from '../support/db.js';

/** The project root (jest runs from it). */
export const ROOT = process.cwd();

/** A database of its own on the test server for a legacy (schema-per-tenant) source. */
export interface LegacyDatabase {
  readonly url: string;
  readonly pool: pg.Pool;
  drop(): Promise<void>;
}

export async function createLegacyDatabase(): Promise<LegacyDatabase> {
  const name = `legacy_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
  await withClient(databaseUrl('postgres'), (c) => c.query(`create database ${pg.escapeIdentifier(name)}`));
  const url = databaseUrl(name);
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  // pg-pool's end() resolves before its idle clients' sockets are closed; `drop database … with (force)`
  // then terminates them, and an unheard pool 'error' failed the test file (seen under load).
  pool.on('error', () => undefined);
  return {
    url,
    pool,
    drop: async () => {
      await pool.end();
      await withClient(databaseUrl('postgres'), (c) => c.query(`drop database if exists ${pg.escapeIdentifier(name)} with (force)`));
    },
  };
}

/** In-process run with no progress output. */
export function migrate(db: TestDatabase, legacy: LegacyDatabase, options: Partial<MigrateOptions>): Promise<MigrationSummary> {
  return migrateSchemas(
    { orm: db.orm, sourceUrl: legacy.url, baseDomain: 'tenantry.test', progress: createProgress(process.stderr, { quiet: true }), lockUrl: db.appUrl },
    { ...DEFAULT_OPTIONS, all: !options.tenants?.length, ...options },
  );
}

export const TENANT_TABLES = ['product', 'customer', 'order', 'order_line', 'order_counter'] as const;

/** Everything the migrator could write, as the owner sees it: rows and a digest of their content. */
export async function targetState(db: TestDatabase): Promise<Record<string, string>> {
  const state: Record<string, string> = {};
  for (const table of ['tenant', 'domain', 'audit_event', 'migration_checkpoint', ...TENANT_TABLES]) {
    const { rows } = await db.owner.query(`select count(*)::int as n, md5(coalesce(string_agg(t::text, '|' order by t::text), '')) as digest from "${table}" t`);
    state[table] = `${rows[0].n}:${rows[0].digest}`;
  }
  return state;
}

/** A digest of every row of every table of the legacy database (to prove it was only read). */
export async function legacyState(legacy: LegacyDatabase): Promise<string> {
  const { rows: tables } = await legacy.pool.query(
    `select format('%I.%I', schemaname, tablename) as name from pg_tables where schemaname not in ('pg_catalog', 'information_schema') order by 1`,
  );
  const parts: string[] = [];
  for (const { name } of tables) {
    const { rows } = await legacy.pool.query(`select count(*) as n, md5(coalesce(string_agg(t::text, '|' order by t::text), '')) as d from ${name} t`);
    parts.push(`${name}:${rows[0].n}:${rows[0].d}`);
  }
  return parts.join('\n');
}

export async function countsByTenant(db: TestDatabase, table: string): Promise<Map<string, number>> {
  const { rows } = await db.owner.query(`select tenant_id, count(*)::int as n from "${table}" group by tenant_id`);
  return new Map(rows.map((r) => [r.tenant_id, r.n]));
}

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The real CLI as a child process, against the test databases. */
export function spawnCli(db: TestDatabase | null, args: string[], extraEnv: Record<string, string> = {}) {
  const child = spawn(path.join(ROOT, 'node_modules/.bin/node'), ['--import', '@swc-node/register/esm-register', 'src/cli/main.ts', ...args], {
    cwd: ROOT,
    env: {
      ...process.env,
      NODE_OPTIONS: '',
      BASE_DOMAIN: 'tenantry.test',
      ...(db ? { DATABASE_URL: db.ownerUrl, APP_DATABASE_URL: db.appUrl } : {}),
      ...extraEnv,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const done = new Promise<CliResult>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, done };
}

export async function runCli(db: TestDatabase | null, args: string[]): Promise<CliResult> {
  return spawnCli(db, args).done;
}
