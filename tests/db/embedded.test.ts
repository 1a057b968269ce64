import { mkdtemp, chmod, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort } from '../../bench/harness.js';
import { startEmbeddedPostgres } from '../../src/db/embedded.js';
import { withClient } from '../../src/db/database.js';

// `npm start` and `npm run worker` on the default embedded Postgres share one server: the second
// process joins the server of the data dir instead of failing on its lock file, and leaves it running.

test('a second process on the same data dir joins the running server and does not stop it', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tenantry-embedded-'));
  await chmod(dir, 0o755);
  const port = await freePort();
  const first = await startEmbeddedPostgres(dir, port);
  try {
    const second = await startEmbeddedPostgres(dir, await freePort()); // asked for another port: joins anyway
    expect(second.url('postgres')).toBe(first.url('postgres'));
    await second.stop();
    const { rows } = await withClient(first.url('postgres'), (c: pg.Client) => c.query('select 1 as ok'));
    expect(rows).toEqual([{ ok: 1 }]);
  } finally {
    await first.stop();
    await rm(dir, { recursive: true, force: true });
  }
}, 60_000);
