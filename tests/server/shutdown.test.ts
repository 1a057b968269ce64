/**
 * SIGTERM to a loaded server: a real server process (src/server/main.ts's code, via the test entry)
 * with 16 keep-alive clients each sending one request after another, so about 16 requests are in
 * flight when the signal arrives. Graceful means: every request in flight is answered 200, nothing gets
 * a 5xx, every response from then on carries `Connection: close` (clients leave instead of sending more
 * on the socket), no request sent on a kept-alive socket is cut, and the process exits 0 without an
 * error-level log line. With the embedded Postgres too: it stops after the last request, with the
 * process.
 */
import http from 'node:http';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { freePort } from '../../bench/harness.js';
import { type ChildApp, spawnApp } from '../jobs/helpers.js';
import { eventually } from '../support/eventually.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { createProduct, readyTenant } from '../support/fixtures.js';

const CLIENTS = 16;
/**
 * Short: every client has a request in flight from its first one on, and the default rate limit
 * (1,200 requests a minute per client IP, the clients' one address included) must not answer them.
 */
const LOAD_BEFORE_SIGNAL_MS = 500;
/** Clients stop by themselves once the server refuses connections; this bounds them if it never does. */
const CLIENT_LIMIT_MS = 25_000;
const PAGE = `{ products(first: 20) { edges { node { id sku name priceCents createdAt } } } }`;

interface Outcome {
  readonly sentAt: number;
  readonly answeredAt?: number;
  /** Sent on a socket kept alive from an earlier request. */
  readonly reusedSocket: boolean;
  readonly status?: number;
  readonly connection?: string;
  readonly errors?: unknown;
  /** A connection-level failure (no response): its code. */
  readonly failure?: string;
}

function post(port: number, agent: http.Agent, token: string): Promise<Outcome> {
  const body = JSON.stringify({ query: PAGE });
  const sentAt = performance.now();
  return new Promise((resolve) => {
    const req = http.request(
      { host: '127.0.0.1', port, path: '/graphql', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), authorization: `Bearer ${token}` } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        res.on('end', () => {
          let errors: unknown;
          try {
            errors = (JSON.parse(text) as { errors?: unknown }).errors;
          } catch {
            errors = text;
          }
          resolve({ sentAt, answeredAt: performance.now(), reusedSocket: req.reusedSocket, status: res.statusCode, connection: res.headers.connection, errors });
        });
        res.on('error', (err: NodeJS.ErrnoException) => resolve({ sentAt, reusedSocket: req.reusedSocket, failure: err.code ?? err.message }));
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ sentAt, reusedSocket: req.reusedSocket, failure: err.code ?? err.message }));
    req.end(body);
  });
}

/** One keep-alive client sending request after request until the server refuses it (or the limit). */
async function keepSending(port: number, token: string, outcomes: Outcome[]): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const limit = performance.now() + CLIENT_LIMIT_MS;
  try {
    while (performance.now() < limit) {
      const outcome = await post(port, agent, token);
      outcomes.push(outcome);
      if (outcome.failure) return;
    }
  } finally {
    agent.destroy();
  }
}

interface Verdict {
  readonly exitCode: number | null;
  readonly inFlightAtSignal: number;
  readonly notOk: string[];
  readonly inFlightFailed: string[];
  readonly keptAliveCut: string[];
  /** Sent once the server had logged that it is shutting down, so it read them while closing. */
  readonly sentWhileClosingWithoutConnectionClose: string[];
  /** Clients whose last request was not refused at connect (the server never told them to leave). */
  readonly clientsNotRefused: number;
  readonly errorLines: string[];
}

/** Loads `server`, sends it SIGTERM (or what `signal` sends), waits for the exit, and sorts what every request got. */
async function terminateUnderLoad(server: ChildApp, token: string, signal = () => server.proc.kill('SIGTERM')): Promise<Verdict> {
  const perClient = Array.from({ length: CLIENTS }, () => [] as Outcome[]);
  const clients = perClient.map((outcomes) => keepSending(server.port, token, outcomes));
  await new Promise((r) => setTimeout(r, LOAD_BEFORE_SIGNAL_MS));
  const signalAt = performance.now();
  const exited = new Promise<number | null>((resolve) => server.proc.once('exit', (code) => resolve(code)));
  signal();
  const closingSince = server.waitForLog('shutting down').then(() => performance.now());
  await Promise.all(clients);
  const exitCode = await exited;
  const closingAt = await closingSince;
  const outcomes = perClient.flat();
  const inFlight = outcomes.filter((o) => o.sentAt < signalAt && (o.answeredAt === undefined || o.answeredAt >= signalAt));
  const logLines = server.output().split('\n').filter((l) => l.trim() !== '');
  return {
    exitCode,
    inFlightAtSignal: inFlight.length,
    notOk: outcomes.filter((o) => o.status !== undefined && (o.status !== 200 || o.errors !== undefined)).map(summary),
    inFlightFailed: inFlight.filter((o) => o.failure).map(summary),
    keptAliveCut: outcomes.filter((o) => o.failure && o.reusedSocket).map(summary),
    sentWhileClosingWithoutConnectionClose: outcomes.filter((o) => o.sentAt > closingAt && o.status !== undefined && o.connection !== 'close').map(summary),
    clientsNotRefused: perClient.filter((o) => o.at(-1)?.failure !== 'ECONNREFUSED').length,
    // pino levels: 50 error, 60 fatal; anything not JSON is a stray stack trace or crash report.
    errorLines: logLines.filter((l) => !l.startsWith('{') || (JSON.parse(l) as { level: number }).level >= 50),
  };
}

/** One line per outcome, for readable failures. */
function summary(o: Outcome): string {
  if (o.failure) return `${o.failure}${o.reusedSocket ? ' on a kept-alive socket' : ''}`;
  const code = (o.errors as { extensions?: { code?: string } }[] | undefined)?.[0]?.extensions?.code;
  return `${o.status}${code ? ` ${code}` : ''}, Connection: ${o.connection}`;
}

/** A READY tenant with 20 products, through the server's own API; returns its access token. */
async function seed(server: ChildApp): Promise<string> {
  const tenant = await readyTenant(server, `load-${Math.random().toString(36).slice(2, 8)}`);
  for (let i = 0; i < 20; i++) await createProduct(server, { token: tenant.token }, `SKU-${i}`);
  return tenant.token;
}

function expectGraceful(v: Verdict): void {
  expect(v.inFlightAtSignal).toBeGreaterThanOrEqual(CLIENTS / 2); // the signal really met a loaded server
  expect(v.notOk).toEqual([]); // no 5xx (nor any other failure) for anyone
  expect(v.inFlightFailed).toEqual([]); // every request in flight was answered
  expect(v.keptAliveCut).toEqual([]); // no request sent on a kept-alive socket was cut
  expect(v.sentWhileClosingWithoutConnectionClose).toEqual([]); // once closing, clients are told to leave…
  expect(v.clientsNotRefused).toBe(0); // …and every one of them did, and found the door closed
  expect(v.errorLines).toEqual([]);
  expect(v.exitCode).toBe(0);
}

/** Production, with the rate limits off: the load below is about shutdown, not about one client's rate. */
const UNLIMITED = { NODE_ENV: 'production', RATE_LIMIT_PER_MINUTE: '0', TENANT_RATE_LIMIT_PER_MINUTE: '0' };

describe('SIGTERM under load', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(() => db.close());

  test('on DATABASE_URL: requests in flight finish, keep-alive clients are told to leave, exit code 0', async () => {
    const server = await spawnApp('server', db, UNLIMITED);
    try {
      const verdict = await terminateUnderLoad(server, await seed(server));
      expectGraceful(verdict);
    } finally {
      await server.stop('SIGKILL');
    }
  }, 90_000);

  test('a request whose client left before its answer still runs to its end before Apollo stops: no error logged', async () => {
    const server = await spawnApp('server', db, UNLIMITED);
    const lock = await db.owner.connect();
    try {
      const token = await seed(server);
      // Holds the request in its tenant lookup (before Apollo) until the lock is released.
      await lock.query('begin');
      await lock.query('lock table tenant in access exclusive mode');
      const abandoned = http.request({ host: '127.0.0.1', port: server.port, path: '/graphql', method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` } });
      abandoned.on('error', () => undefined);
      abandoned.end(JSON.stringify({ query: PAGE }));
      await eventually(async () => (await db.owner.query(`select 1 from pg_stat_activity where usename = 'tenantry_app' and wait_event_type = 'Lock'`)).rowCount, 10_000, 'request waiting');
      abandoned.destroy(); // the client leaves
      server.proc.kill('SIGTERM');
      await server.waitForLog('shutting down');
      await new Promise((r) => setTimeout(r, 300)); // the server has no connection left: it would stop Apollo now
      await lock.query('commit');
      const exitCode = await new Promise<number | null>((resolve) => server.proc.once('exit', (code) => resolve(code)));
      const lines = server.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { level: number; msg: string });
      expect(lines.filter((l) => l.level >= 50 || /shutdown/.test(l.msg) && l.level >= 40)).toEqual([]);
      const afterSignal = lines.slice(lines.findIndex((l) => l.msg === 'shutting down'));
      expect(afterSignal.filter((l) => l.msg === 'graphql operation')).toEqual([expect.objectContaining({ status: 200 })]); // it ran to its end
      expect(exitCode).toBe(0);
    } finally {
      await lock.query('rollback').catch(() => undefined);
      lock.release();
      await server.stop('SIGKILL');
    }
  }, 90_000);
});

describe('on the embedded Postgres', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'tenantry-shutdown-'));
    await chmod(dataDir, 0o755); // the `postgres` OS user must traverse it when we run as root
  });
  afterAll(() => rm(dataDir, { recursive: true, force: true }));

  async function startEmbedded(): Promise<{ server: ChildApp; postgresPid: number }> {
    const env = { ...UNLIMITED, DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(await freePort()) };
    const server = await spawnApp('server', null, env, { startTimeoutMs: 60_000, ownProcessGroup: true });
    const postgresPid = Number((await readFile(path.join(dataDir, 'pg', 'postmaster.pid'), 'utf8')).split('\n')[0]);
    return { server, postgresPid };
  }

  test('SIGTERM under load: Postgres stops after the last request, with the process; exit code 0', async () => {
    const { server, postgresPid } = await startEmbedded();
    try {
      expectGraceful(await terminateUnderLoad(server, await seed(server))); // every request reached the database
      expect(isRunning(postgresPid)).toBe(false);
    } finally {
      await server.stop('SIGKILL');
      if (isRunning(postgresPid)) process.kill(postgresPid, 'SIGKILL');
    }
  }, 120_000);

  test('Ctrl-C at a terminal (SIGINT to the whole process group) under load is just as graceful', async () => {
    const { server, postgresPid } = await startEmbedded();
    try {
      expectGraceful(await terminateUnderLoad(server, await seed(server), () => process.kill(-server.proc.pid!, 'SIGINT')));
      expect(isRunning(postgresPid)).toBe(false);
    } finally {
      await server.stop('SIGKILL');
      if (isRunning(postgresPid)) process.kill(postgresPid, 'SIGKILL');
    }
  }, 120_000);
});

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
