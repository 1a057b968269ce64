import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const NODE = path.join(ROOT, 'node_modules/.bin/node');

/** What `process.memoryUsage()` reports, in bytes. */
export interface MemoryFigures {
  readonly rss: number;
  readonly heapUsed: number;
  readonly external: number;
  readonly arrayBuffers: number;
}

/** One sample, taken once `rows` rows were written. */
export interface MemorySample extends MemoryFigures {
  readonly rows: number;
}

export interface ExportMemoryJob {
  readonly appUrl: string;
  readonly tenantId: string;
  readonly file: string;
  /**
   * 'live': a full garbage collection before each sample (every `liveEvery`-th fetch), so the figures
   * are what the export still references: flat in the tenant's size, or it holds rows.
   * 'running': sampled every 20 ms as the export runs, garbage not yet collected included (what the
   * operating system sees).
   */
  readonly mode: 'live' | 'running';
  readonly liveEvery: number;
  readonly fetchRows?: number;
  readonly partBytes?: number;
}

export interface ExportMemoryRun {
  readonly rows: number;
  readonly bytes: number;
  readonly seconds: number;
  /** After a full collection, the ORM open, before the export. */
  readonly base: MemorySample;
  /** The samples in order, the last one taken after the export. */
  readonly timeline: readonly MemorySample[];
  /** V8's young generation at the end (it grows under allocation pressure, up to a cap). */
  readonly newSpace: number;
}

/**
 * Exports one tenant in a child process of its own (bench/exportMemoryChild.ts, with --expose-gc) and
 * returns its memory: the process holds nothing but the ORM and the export, so what grows is the
 * export's (the bench's own process also runs the API server, the job queue and the seeding).
 */
export async function measureExportMemory(job: Omit<ExportMemoryJob, 'liveEvery'> & { liveEvery?: number }): Promise<ExportMemoryRun> {
  const { stdout } = await promisify(execFile)(NODE, ['--expose-gc', '--import', '@swc-node/register/esm-register', 'bench/exportMemoryChild.ts', JSON.stringify({ liveEvery: 1, ...job })], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME },
    maxBuffer: 1024 * 1024,
  });
  return JSON.parse(stdout) as ExportMemoryRun;
}

/** What the export references: the JS heap and the buffers outside it (the parts). */
export const kept = (s: MemoryFigures): number => s.heapUsed + s.external;

/** The highest sample of `figure` over the process before the export: what the export added at its peak. */
export const growth = (run: ExportMemoryRun, figure: (s: MemoryFigures) => number): number => Math.max(...run.timeline.map(figure)) - figure(run.base);
