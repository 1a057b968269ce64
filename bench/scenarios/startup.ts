import { spawn } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { migrate } from '../../src/db/database.js';
import { freePort, median, ms, type BenchRow, type Scenario } from '../harness.js';
import { buildProduction, ROOT } from '../production.js';

const NODE = path.join(ROOT, 'node_modules/.bin/node');
const RUNS = Number(process.env.BENCH_STARTUP_RUNS ?? 7);
/** Issue 11's budget for the production start, spawn to /readyz. */
const TARGET_MS = 1_500;

/** The command lines compared, each started RUNS times, interleaved. */
const STARTS = {
  built: ['dist/server/main.js'],
  transpiled: ['--import', '@swc-node/register/esm-register', 'src/server/main.ts'],
  // The floor: a process that only starts Node and answers HTTP.
  bareNode: ['-e', `require('node:http').createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT), '127.0.0.1')`],
} as const;

/**
 * Spawn to the first 200 from /readyz of the server as production starts it (`node dist/server/main.js`,
 * worker in-process, on an existing, migrated database given by DATABASE_URL), against:
 * - a bare Node process answering HTTP (the cost of starting Node at all);
 * - the same server compiled at run time by @swc-node/register, as `npm start` ran before the build.
 */
export const startupScenario: Scenario = {
  name: 'startup',
  async run(bench) {
    const ownerUrl = await bench.createDatabase('bench_startup');
    await migrate(ownerUrl);
    buildProduction();
    const env = { NODE_ENV: 'production', DATABASE_URL: ownerUrl, JWT_SECRET: 'bench-secret-bench-secret-bench-secret', LOG_LEVEL: 'warn' };
    await timeToReady(STARTS.built, env); // warm the file cache; the database's app login is set

    const times: Record<keyof typeof STARTS, number[]> = { built: [], transpiled: [], bareNode: [] };
    for (let i = 0; i < RUNS; i++) {
      for (const kind of Object.keys(STARTS) as (keyof typeof STARTS)[]) times[kind].push(await timeToReady(STARTS[kind], env));
    }
    const figure = (v: number[]) => `${ms(median(v))} (max ${ms(Math.max(...v))})`;
    const over = times.built.filter((t) => t > TARGET_MS).length;
    const note = `${RUNS} starts each, interleaved; budget ${TARGET_MS} ms: ${over === 0 ? 'every start within' : `${over} of ${RUNS} starts over`}`;
    return [
      { scenario: 'startup: built server vs bare node (spawn → /readyz 200)', measured: figure(times.built), baseline: figure(times.bareNode), ratio: median(times.built) / median(times.bareNode), note },
      { scenario: 'startup: built vs compiled at run time (swc-node)', measured: figure(times.built), baseline: figure(times.transpiled), ratio: median(times.built) / median(times.transpiled), note: 'ratio < 1: the build saves that share' },
    ] satisfies BenchRow[];
  },
};

/** Spawns `args`, polls /readyz every 5 ms until 200, stops the process (SIGTERM) and returns the ms to ready. */
async function timeToReady(args: readonly string[], env: Record<string, string>): Promise<number> {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(NODE, args, { cwd: ROOT, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env, PORT: String(port) }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c) => (stderr += c));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    for (;;) {
      if ((await readyStatus(port)) === 200) return performance.now() - started;
      if (child.exitCode !== null) throw new Error(`${args.join(' ')} exited ${child.exitCode}: ${stderr}`);
      if (performance.now() - started > 60_000) throw new Error(`${args.join(' ')} not ready after 60 s: ${stderr}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

function readyStatus(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/readyz', agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('error', () => resolve(undefined));
  });
}
