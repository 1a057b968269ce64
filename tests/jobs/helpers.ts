import { type ChildProcess, spawn } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Client } from 'graphql-ws';
import { startEmbeddedPostgres } from '../../src/db/embedded.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { BASE_DOMAIN, gql, JWT_SECRET, listeningPortIn, wsSubscribe } from '../support/server.js';
import { freePort } from '../../bench/harness.js';

export const STATUS_SUBSCRIPTION = `subscription($tenantId: ID) { tenantStatusChanged(tenantId: $tenantId) { tenantId status error at } }`;

export interface StatusEvent {
  tenantId: string;
  status: string;
  error: string | null;
  at: string;
}

/** A `tenantStatusChanged` subscription whose events are read as plain status events. */
export function watchStatus(client: Client, tenantId?: string) {
  const sub = wsSubscribe<{ tenantStatusChanged: StatusEvent }>(client, STATUS_SUBSCRIPTION, tenantId ? { tenantId } : {});
  const events = () => sub.results.filter((r) => r.data?.tenantStatusChanged).map((r) => r.data!.tenantStatusChanged as StatusEvent);
  return {
    sub,
    events,
    statuses: (forTenant?: string) => events().filter((e) => !forTenant || e.tenantId === forTenant).map((e) => e.status),
    /** Waits until an event matches (default 20 s); returns all events so far. */
    async until(match: (e: StatusEvent) => boolean, timeoutMs = 20_000): Promise<StatusEvent[]> {
      const deadline = Date.now() + timeoutMs;
      while (!events().some(match)) {
        if (sub.completed) throw new Error(`subscription ended before the awaited event: ${JSON.stringify(sub.results)}`);
        if (Date.now() > deadline) throw new Error(`no matching event after ${timeoutMs} ms: ${JSON.stringify(sub.results)}`);
        await sub.waitFor(sub.results.length + 1, Math.max(1, deadline - Date.now())).catch(() => undefined);
      }
      return events();
    },
  };
}

export async function superadminMutation(server: { url: string }, token: string, query: string, variables: Record<string, unknown>) {
  return gql(server, query, variables, { token });
}

export const RETRY = `mutation($id: ID!) { retryTenantPreparation(tenantId: $id) { id status statusError } }`;
export const SET_ACTIVE = `mutation($id: ID!, $active: Boolean!) { setTenantActive(tenantId: $id, isActive: $active) { id isActive } }`;

export interface ChildApp {
  readonly proc: ChildProcess;
  readonly port: number;
  readonly url: string;
  readonly wsUrl: string;
  /** Everything the process printed (pino JSON lines and any stderr). */
  output(): string;
  /** Resolves when a log line contains `text`. */
  waitForLog(text: string, timeoutMs?: number): Promise<void>;
  /** SIGTERM (graceful) or SIGKILL, then waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

const ROOT = process.cwd(); // jest runs from the project root

/**
 * A real `npm start` (`server`) or `npm run worker` (`worker`) as a child process on the test database
 * (on the embedded Postgres of `env.DATA_DIR` when `db` is null): the production entry with the
 * provisioning test knobs of `env` injected (tests/support/entry).
 */
export async function spawnApp(
  kind: 'server' | 'worker',
  db: TestDatabase | null,
  env: Record<string, string> = {},
  options: { startTimeoutMs?: number; /** A process group of its own (signal the group: a terminal's Ctrl-C) */ ownProcessGroup?: boolean } = {},
): Promise<ChildApp> {
  const entry = kind === 'server' ? 'tests/support/entry/server.ts' : 'tests/support/entry/worker.ts';
  const proc = spawn(path.join(ROOT, 'node_modules/.bin/node'), ['--import', '@swc-node/register/esm-register', entry], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      ARGON2_MEMORY_KIB: process.env.ARGON2_MEMORY_KIB ?? '1024',
      ARGON2_TIME_COST: process.env.ARGON2_TIME_COST ?? '1',
      NODE_ENV: 'test',
      ...(db && { DATABASE_URL: db.ownerUrl, APP_DATABASE_URL: db.appUrl }),
      // The server picks its port and logs it: a port picked here could be taken by another test's
      // server before the child binds it.
      PORT: '0',
      JWT_SECRET,
      BASE_DOMAIN,
      LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.ownProcessGroup ?? false,
  });
  let out = '';
  const waiters: { text: string; resolve: () => void }[] = [];
  const onData = (chunk: Buffer) => {
    out += chunk.toString();
    for (const w of [...waiters]) {
      if (out.includes(w.text)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const waitForLog = (text: string, timeoutMs = 20_000) =>
    new Promise<void>((resolve, reject) => {
      if (out.includes(text)) return resolve();
      const timer = setTimeout(() => reject(new Error(`${kind} did not log "${text}" in ${timeoutMs} ms:\n${out.slice(-3000)}`)), timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      waiters.push({ text, resolve: done });
      void exited.then(() => {
        clearTimeout(timer);
        if (!out.includes(text)) reject(new Error(`${kind} exited (code ${proc.exitCode}) before logging "${text}":\n${out.slice(-3000)}`));
      });
    });
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
    await exited;
  };
  try {
    await waitForLog(kind === 'server' ? 'tenantry listening' : 'tenantry worker started', options.startTimeoutMs);
  } catch (err) {
    await stop('SIGKILL');
    throw err;
  }
  const port = kind === 'server' ? listeningPortIn(out)! : 0; // a worker listens on nothing
  return { proc, port, url: `http://127.0.0.1:${port}/graphql`, wsUrl: `ws://127.0.0.1:${port}/graphql`, output: () => out, waitForLog, stop };
}

/**
 * A test database on a PostgreSQL cluster of its own. The app role (`tenantry_app`) is cluster-wide, and
 * a process started without APP_DATABASE_URL/APP_DB_PASSWORD (tests/server/main.test.ts) sets its
 * password for the whole cluster; child processes that open new connections while another test file
 * does that fail to log in. A private cluster (about 2 s to create) keeps these tests out of that race.
 */
export async function createPrivateTestDatabase(): Promise<TestDatabase & { destroy(): Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tenantry-jobs-pg-'));
  await chmod(dir, 0o755); // the `postgres` OS user must traverse it when we run as root
  const cluster = await startEmbeddedPostgres(dir, await freePort());
  const shared = process.env.TEST_DATABASE_URL;
  process.env.TEST_DATABASE_URL = cluster.url('postgres');
  try {
    const db = await createTestDatabase();
    return {
      ...db,
      destroy: async () => {
        await db.close();
        await cluster.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await cluster.stop();
    throw err;
  } finally {
    process.env.TEST_DATABASE_URL = shared;
  }
}
