import { readFileSync } from 'node:fs';
import { mkdtemp, chmod, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { startEmbeddedPostgres, type EmbeddedServer } from '../src/db/embedded.js';

/** One printed row: a figure, the baseline measured in the same run, and their ratio. */
export interface BenchRow {
  readonly scenario: string;
  readonly measured: string;
  readonly baseline: string;
  /** measured / baseline for costs (time), or baseline / measured for throughput: >1 means slower. */
  readonly ratio: number | null;
  readonly note?: string;
}

export interface Scenario {
  readonly name: string;
  run(server: BenchServer): Promise<BenchRow[]>;
}

export interface BenchServer {
  readonly pg: EmbeddedServer;
  /** Superuser URL of a fresh database created for the caller. */
  createDatabase(name: string): Promise<string>;
  /** The postmaster's process id (its backends are its children), or null when unknown. */
  postgresPid(): number | null;
}

export async function startBenchServer(): Promise<BenchServer & { stop(): Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tenantry-bench-'));
  await chmod(dir, 0o755);
  const pg = await startEmbeddedPostgres(dir, await freePort());
  const { withClient } = await import('../src/db/database.js');
  return {
    pg,
    createDatabase: async (name) => {
      await withClient(pg.url('postgres'), (c) => c.query(`create database "${name}"`));
      return pg.url(name);
    },
    postgresPid: () => {
      try {
        return Number(readFileSync(path.join(dir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0]) || null;
      } catch {
        return null;
      }
    },
    stop: async () => {
      await pg.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Runs `fn` `iterations` times after `warmup` runs; returns per-call latencies in ms. */
export async function sample(fn: () => Promise<unknown>, iterations: number, warmup = Math.ceil(iterations / 10)): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn();
  const out: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const t = performance.now();
    await fn();
    out.push(performance.now() - t);
  }
  return out;
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export function median(values: number[]): number {
  return percentile(values, 50);
}

export const ms = (v: number): string => `${v.toFixed(3)} ms`;
