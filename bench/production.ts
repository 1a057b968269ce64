import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { freePort } from './harness.js';

/** The checkout the benches run from. */
export const ROOT = path.resolve(import.meta.dirname, '..');

/** dist/ built from the current sources of `root` (what production runs), if it is missing or stale. */
export function buildProduction(root = ROOT): void {
  const result = spawnSync(process.execPath, ['scripts/build.ts', '--if-stale'], { cwd: root, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`build failed: ${result.stderr}`);
}

export interface ServerProcess {
  readonly port: number;
  readonly pid: number;
  stop(): Promise<void>;
}

export interface ServerProcessOptions {
  /** The entry and its arguments; the built server by default. */
  readonly args?: readonly string[];
  /** Where it runs from (another revision's checkout, for before/after rows). */
  readonly cwd?: string;
  /** A directory: the process runs with `--cpu-prof` and writes its profile there when stopped. */
  readonly profileDir?: string;
}

/**
 * A server in a child process as production runs it (`node dist/server/main.js`, NODE_ENV=production,
 * the worker off, logs silenced unless `env` says otherwise); resolves once /readyz answers 200.
 */
export async function startServerProcess(env: Record<string, string>, options: ServerProcessOptions = {}): Promise<ServerProcess> {
  const port = await freePort();
  const profile = options.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${options.profileDir}`] : [];
  const child: ChildProcess = spawn(process.execPath, [...profile, ...(options.args ?? ['dist/server/main.js'])], {
    cwd: options.cwd ?? ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: 'production', RUN_WORKER: 'false', LOG_LEVEL: 'silent', ...env, PORT: String(port) },
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (c) => (stderr += c));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    child.kill('SIGTERM');
    await exited;
  };
  for (const deadline = Date.now() + 60_000; ; await new Promise((resolve) => setTimeout(resolve, 50))) {
    if (await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status === 200, () => false)) return { port, pid: child.pid!, stop };
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`${options.args?.join(' ') ?? 'the built server'} did not become ready (exit ${child.exitCode}): ${stderr.slice(-2000)}`);
    }
  }
}
