/**
 * `npm start` itself (the npm CLI, as a person or a process manager runs it) on the embedded Postgres:
 * SIGTERM or SIGINT to the npm process stops everything it started — the node server and the Postgres
 * it runs — within the graceful-shutdown window, npm exits 0, and the expected shutdown steps log no
 * error-level line nor a stack trace.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmod, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../bench/harness.js';
import { SHUTDOWN_GRACE_MS } from '../../src/server/app.js';
import { eventually } from '../support/eventually.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
let dataDir: string;
const leftovers: number[] = [];

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'tenantry-npm-start-'));
  await chmod(dataDir, 0o755); // the `postgres` OS user must traverse it when we run as root
});

afterAll(async () => {
  for (const pid of leftovers.filter(isRunning)) process.kill(pid, 'SIGKILL');
  await rm(dataDir, { recursive: true, force: true });
});

interface NpmStart {
  readonly npm: ChildProcess;
  readonly port: number;
  readonly exited: Promise<number | null>;
  output(): string;
}

async function npmStart(): Promise<NpmStart> {
  const port = await freePort();
  const npm = spawn('npm', ['start'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: String(port), DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(await freePort()), LOG_LEVEL: 'info', JWT_SECRET: 'npm-start-test-secret-0123456789abcdef' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  leftovers.push(npm.pid!);
  let out = '';
  npm.stdout!.on('data', (c) => (out += c));
  npm.stderr!.on('data', (c) => (out += c));
  const exited = new Promise<number | null>((resolve) => npm.once('exit', (code) => resolve(code)));
  await eventually(async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200, 60_000, `npm start serving:\n${out}`);
  return { npm, port, exited, output: () => out };
}

/** Every process `npm start` started, down the tree: the node server, Postgres and its workers. */
async function startedBy(pid: number): Promise<number[]> {
  const children = async (p: number): Promise<number[]> => {
    const tasks = await readdir(`/proc/${p}/task`).catch(() => []);
    const lists = await Promise.all(tasks.map((t) => readFile(`/proc/${p}/task/${t}/children`, 'utf8').catch(() => '')));
    return lists.join(' ').trim().split(/\s+/).filter(Boolean).map(Number);
  };
  const found: number[] = [];
  for (let queue = await children(pid); queue.length > 0; ) {
    const next = queue.shift()!;
    found.push(next);
    queue.push(...(await children(next)));
  }
  leftovers.push(...found);
  return found;
}

async function commandLine(pid: number): Promise<string> {
  return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).replaceAll('\0', ' ');
}

/** pino lines at error level or above, and anything that looks like a stack trace or an npm error. */
function errorLines(output: string): string[] {
  return output.split('\n').filter((line) => {
    if (line.startsWith('{')) return (JSON.parse(line) as { level: number }).level >= 50;
    return /^\s+at |Error|npm (error|ERR)/.test(line);
  });
}

test.each(['SIGTERM', 'SIGINT'] as const)('%s to `npm start` stops the server and its Postgres; npm exits 0', async (signal) => {
  const run = await npmStart();
  const started = await startedBy(run.npm.pid!);
  const postgres = Number((await readFile(path.join(dataDir, 'pg', 'postmaster.pid'), 'utf8')).split('\n')[0]);
  const commands = await Promise.all(started.map(commandLine));
  expect(commands.some((c) => c.includes('dist/server/main.js'))).toBe(true); // the built server…
  expect(started).toContain(postgres); // …and the Postgres it runs
  const sent = performance.now();
  run.npm.kill(signal);
  expect(await run.exited).toBe(0);
  expect(performance.now() - sent).toBeLessThan(SHUTDOWN_GRACE_MS);
  expect(started.filter(isRunning)).toEqual([]);
  await expect(fetch(`http://127.0.0.1:${run.port}/healthz`)).rejects.toThrow();
  expect(run.output()).toContain(`"signal":"${signal}","msg":"shutting down"`);
  expect(errorLines(run.output())).toEqual([]);
}, 90_000);

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
