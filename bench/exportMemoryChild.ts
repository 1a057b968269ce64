import 'reflect-metadata';
import v8 from 'node:v8';
import { createOrm } from '../src/db/orm.js';
import { exportTenantToFile } from '../src/lifecycle/export.js';
import type { ExportMemoryJob, ExportMemoryRun, MemorySample } from './exportMemory.js';

/**
 * One tenant export in a process of its own, its memory sampled (bench/exportMemory.ts starts it with
 * --expose-gc, the job as JSON in argv[2], and reads the result as JSON from stdout).
 */
const job = JSON.parse(process.argv[2]) as ExportMemoryJob;
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');

let rows = 0;
const timeline: MemorySample[] = [];
const sample = () => {
  if (job.mode === 'live') {
    // Twice: array buffers found dead by one collection are freed after it; the second one counts them out.
    gc();
    gc();
  }
  const m = process.memoryUsage();
  timeline.push({ rows, rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers });
};

const orm = await createOrm(job.appUrl, { pool: { min: 0, max: 2 } });
gc();
gc();
sample();
const [base] = timeline.splice(0);
let fetches = 0;
const timer = job.mode === 'running' ? setInterval(sample, 20) : undefined;
const started = performance.now();
const result = await exportTenantToFile(orm, job.tenantId, job.file, {
  exportId: crypto.randomUUID(),
  baseDomain: 'bench.test',
  fetchRows: job.fetchRows,
  partBytes: job.partBytes,
  progress: {
    table() {},
    tableDone() {},
    rows: (_table, n) => {
      rows += n;
      // 'live': after every `liveEvery`-th fetch, with a part being filled and the previous one in the archive stream.
      if (job.mode === 'live' && ++fetches % job.liveEvery === 0) sample();
    },
  },
});
const seconds = (performance.now() - started) / 1000;
clearInterval(timer);
sample();
await orm.close();
const run: ExportMemoryRun = {
  rows: result.manifest.tables.reduce((n, t) => n + t.rows, 0),
  bytes: result.bytes,
  seconds,
  base,
  timeline,
  newSpace: v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0,
};
process.stdout.write(`${JSON.stringify(run)}\n`);
