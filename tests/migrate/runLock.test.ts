import pg from 'pg';
import { setTimeout as sleep } from 'node:timers/promises';
import { MIGRATION_LOCK } from '../../src/db/database.js';
import { makeLegacyFixture } from '../../src/migrate/fixture.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { createLegacyDatabase, type LegacyDatabase, spawnCli } from './support.js';

/** src/db/database.ts: the lock processes take turns on to apply migrations. */
const ARGS = ['migrate-schemas', '--all', '--batch-size', '10', '--concurrency', '1'];

let db: TestDatabase;
let legacy: LegacyDatabase;
const children: ReturnType<typeof spawnCli>['child'][] = [];

beforeAll(async () => {
  [db, legacy] = await Promise.all([createTestDatabase(), createLegacyDatabase()]);
  await makeLegacyFixture(legacy.url, { tenants: 3, rows: 2000, weirdNames: false, replace: false });
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await db?.close();
  await legacy?.drop();
});

test('a second run started during a run stops at once, before migrations or anything else, with exit code 3', async () => {
  const first = spawnCli(db, [...ARGS, '--source', legacy.url]);
  children.push(first.child);
  for (;;) {
    const { rows } = await db.owner.query(`select coalesce(sum(rows_copied), 0)::int as n from migration_checkpoint`);
    if (rows[0].n > 0) break;
    if (first.child.exitCode !== null) throw new Error(`the first run ended early: ${(await first.done).stderr}`);
    await sleep(10);
  }

  // Whatever else holds the database up (here: someone applying migrations), the refusal does not wait for it.
  const migrations = new pg.Client({ connectionString: db.ownerUrl });
  await migrations.connect();
  try {
    await migrations.query('select pg_advisory_lock($1)', [MIGRATION_LOCK]);
    const started = Date.now();
    const second = spawnCli(db, [...ARGS, '--source', legacy.url]);
    children.push(second.child);
    const exited = await Promise.race([second.done, sleep(10_000).then(() => null)]);
    const seconds = (Date.now() - started) / 1000;
    expect(exited).toMatchObject({
      code: 3,
      stdout: '',
      stderr: 'Another migrate-schemas is running against this database: nothing was done. Run it again when that one has finished.\n',
    });
    // Starting the process is most of it.
    expect(seconds).toBeLessThan(3);
    expect(first.child.exitCode).toBeNull();
  } finally {
    await migrations.end();
  }

  const result = await first.done;
  expect(result.code).toBe(0);
  expect(result.stdout).toMatch(/migrate: 3 tenant\(s\), 0 failed, 6000 row\(s\) copied/);
}, 60_000);
