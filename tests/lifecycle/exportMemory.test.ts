/**
 * Issue 12: the export is streamed, its memory flat in the tenant's size: it holds no rows, and it reads
 * no faster than its output takes the archive.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { kept, measureExportMemory } from '../../bench/exportMemory.js';
import { exportTenant } from '../../src/lifecycle/export.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

const ROWS = 50_000;
const MiB = 1024 * 1024;

/** Small enough that the export's own bound is a few hundred kilobytes. */
const SIZES = { fetchRows: 500, partBytes: 64 * 1024 };

let db: TestDatabase;
let dir: string;
let tenantId: string;

beforeAll(async () => {
  db = await createTestDatabase();
  dir = await mkdtemp(path.join(os.tmpdir(), 'tenantry-export-memory-'));
  const { rows: [t] } = await db.owner.query(`insert into tenant (id, name, slug, status, created_at) values (gen_random_uuid(), 'mem', 'mem', 'READY', now()) returning id`);
  await db.owner.query(
    `insert into product (tenant_id, id, sku, name, price_cents, created_at, updated_at)
       select $1, gen_random_uuid(), 'SKU-' || lpad(i::text, 7, '0'), 'Product ' || i, i, now(), now() from generate_series(1, $2::int) i`,
    [t.id, ROWS],
  );
  tenantId = t.id;
});

afterAll(async () => {
  await db?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/**
 * What the export still references, measured in a child process of its own after full garbage
 * collections every ten fetches (bench/exportMemory.ts): the live set, not garbage the collector has not
 * reached yet, so the figure does not depend on timing and holds on a loaded machine.
 */
test('the memory an export keeps does not grow with the rows it has written: it holds none', async () => {
  const run = await measureExportMemory({ appUrl: db.appUrl, tenantId, file: path.join(dir, 'mem.tar.gz'), mode: 'live', liveEvery: 10, ...SIZES });
  expect(run.rows).toBe(ROWS);
  const during = run.timeline.slice(0, -1); // the last sample is after the export
  const early = during.find((s) => s.rows >= 10_000)!;
  const later = during.filter((s) => s.rows > early.rows);
  expect(later.length).toBeGreaterThanOrEqual(5);
  // Holding the 40,000 rows written after `early` would keep about 7 MiB (their JSON lines alone); the
  // export's own bound here is a 500-row fetch and two 64 KiB parts.
  expect((Math.max(...later.map(kept)) - kept(early)) / MiB).toBeLessThan(1);
}, 60_000);

test('an export reads no faster than its output takes the archive: stalled, it stops a few buffers ahead', async () => {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const stalled = new Writable({ write: (_chunk, _enc, done) => void released.then(() => done()) });
  let rows = 0;
  const exporting = exportTenant(db.orm, tenantId, stalled, {
    exportId: randomUUID(),
    baseDomain: 'tenantry.test',
    ...SIZES,
    progress: { table() {}, tableDone() {}, rows: (_table, n) => void (rows += n) },
  });
  // Until it has read rows and then no more for a second: stalled (an export that ignored its output
  // would read on to the end, or fail).
  const ended = exporting.then(() => true, () => true);
  for (let seen = -1; rows === 0 || rows !== seen; ) {
    seen = rows;
    if (await Promise.race([ended, sleep(1000)])) break;
  }
  // What the streams between hold: a part being filled, one in the tar stream, and the compressed
  // archive in gzip's, the byte counter's and the output's buffers (64 KiB each side, Node's default),
  // about 8,000 rows of these at 5.7 times compression; not the tenant.
  expect(rows).toBeLessThan(15_000);
  release();
  const { manifest } = await exporting;
  expect([manifest.tables.find((t) => t.name === 'product')!.rows, rows]).toEqual([ROWS, ROWS]);
}, 60_000);
