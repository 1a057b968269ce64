/**
 * scripts/build.ts with --if-stale (what `npm start`, `npm run worker` and `npm run cli` run first):
 * builds when the output is missing or was built from other sources, and leaves a current build alone.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { NODE } from '../support/cli.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
let out: string;

beforeAll(async () => {
  out = path.join(await mkdtemp(path.join(os.tmpdir(), 'tenantry-build-')), 'dist');
});
afterAll(() => rm(path.dirname(out), { recursive: true, force: true }));

/** Runs the build with --if-stale into `out`; true when it compiled. */
function buildIfStale(): boolean {
  const run = spawnSync(NODE, ['scripts/build.ts', '--if-stale', '--out-dir', out], { cwd: ROOT, encoding: 'utf8' });
  expect(run.status).toBe(0);
  return run.stderr.includes('built ');
}

test('builds when there is no build, and not again while the sources are unchanged', async () => {
  expect(buildIfStale()).toBe(true);
  const entry = await stat(path.join(out, 'server/main.js'));
  expect(buildIfStale()).toBe(false);
  expect((await stat(path.join(out, 'server/main.js'))).mtimeMs).toBe(entry.mtimeMs);
});

test('rebuilds a build made from other sources, dropping files whose source is gone', async () => {
  await writeFile(path.join(out, '.build-stamp'), 'built from other sources\n');
  await writeFile(path.join(out, 'removed.js'), 'export {};\n');
  expect(buildIfStale()).toBe(true);
  await expect(stat(path.join(out, 'removed.js'))).rejects.toThrow(/ENOENT/);
  expect(await readFile(path.join(out, 'server/main.js'), 'utf8')).toContain("from './launch.js'");
});

test('decorators compile with their design-time metadata (type-graphql and MikroORM read it)', async () => {
  const product = await readFile(path.join(out, 'entities/Product.js'), 'utf8');
  expect(product).toMatch(/_ts_metadata\("design:type"/);
});
