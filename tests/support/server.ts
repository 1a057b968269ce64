import { createClient, type Client, type FormattedExecutionResult as ExecutionResult } from 'graphql-ws';
import type { Logger } from 'pino';
import WebSocket from 'ws';
import os from 'node:os';
import path from 'node:path';
import { PasswordHasher } from '../../src/auth/passwords.js';
import { loadConfig, type Config } from '../../src/config.js';
import type { Options } from '@mikro-orm/postgresql';
import { ProvisioningQueue, type ProvisioningOptions } from '../../src/jobs/provisioningQueue.js';
import { LifecycleQueue } from '../../src/lifecycle/queue.js';
import { createApp, type App } from '../../src/server/app.js';
import { createLogger } from '../../src/server/logger.js';
import { createOrm, type Orm, servingConnectionOptions } from '../../src/db/orm.js';
import { createTestDatabase, type TestDatabase } from './db.js';

export const JWT_SECRET = 'tenantry-test-jwt-secret-0123456789abcdef';
export const BASE_DOMAIN = 'tenantry.test';

/**
 * The configuration every in-process test server starts from. Password hashing is cheap (still
 * argon2id): tests hash thousands of passwords, production keeps OWASP's parameters. No rate limits:
 * a test file's clients all come from 127.0.0.1 (tests of the limits set them through `env`).
 */
export const TEST_ENV: Readonly<Record<string, string>> = {
  NODE_ENV: 'test',
  BASE_DOMAIN,
  JWT_SECRET,
  ARGON2_MEMORY_KIB: '1024',
  ARGON2_TIME_COST: '1',
  RATE_LIMIT_PER_MINUTE: '0',
  TENANT_RATE_LIMIT_PER_MINUTE: '0',
  // Archives of exports run through the API: never inside the project's own data directory.
  EXPORT_DIR: path.join(os.tmpdir(), `tenantry-test-exports-${process.pid}`),
};

export interface TestServer {
  readonly db: TestDatabase;
  /** The ORM the server uses: its own, opened like production's from the configuration (pool size, timeouts). */
  readonly orm: Orm;
  readonly app: App;
  readonly queue: ProvisioningQueue;
  readonly lifecycle: LifecycleQueue;
  readonly config: Config;
  readonly url: string;
  readonly wsUrl: string;
  close(): Promise<void>;
}

export interface TestServerOptions {
  /** Run the provisioning worker in this process (default true). */
  readonly worker?: boolean;
  readonly provisioning?: Partial<ProvisioningOptions>;
  readonly env?: Record<string, string>;
  /** Extra MikroORM options for the server's own ORM (e.g. a query logger, another `clientUrl`). */
  readonly orm?: Partial<Options>;
  /** Reuse a database instead of creating one (a second process-like server on the same data). */
  readonly db?: TestDatabase;
  /** The password hasher (default: argon2id at the configuration's cost). */
  readonly passwords?: PasswordHasher;
  /** The server's logger (default: pino at LOG_LEVEL, TEST_LOG_LEVEL or silent). */
  readonly log?: Logger;
}

/** A real server on 127.0.0.1 with a random port, over its own test database. */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const db = options.db ?? (await createTestDatabase());
  const config = loadConfig({ ...TEST_ENV, LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent', ...options.env });
  const log = options.log ?? createLogger(config.logLevel);
  const orm = await createOrm(db.appUrl, { ...servingConnectionOptions(config.database), ...options.orm });
  const queue = await ProvisioningQueue.start(db.appUrl, orm, log, { baseDomain: BASE_DOMAIN, retryDelaySeconds: 1, ...options.provisioning });
  const lifecycle = await LifecycleQueue.start(queue.boss, orm, log, { baseDomain: BASE_DOMAIN, exports: config.exports, retryDelaySeconds: 1 });
  if (options.worker ?? true) {
    await queue.work();
    await lifecycle.work();
  }
  const app = await createApp({ config, orm, appUrl: db.appUrl, jwtSecret: JWT_SECRET, log, provisioner: queue, lifecycle, passwords: options.passwords ?? new PasswordHasher(config.passwordHashing) });
  const port = await app.listen(0, '127.0.0.1');
  return {
    db,
    orm,
    app,
    queue,
    lifecycle,
    config,
    url: `http://127.0.0.1:${port}/graphql`,
    wsUrl: `ws://127.0.0.1:${port}/graphql`,
    close: async () => {
      await app.close();
      await queue.stop();
      await orm.close();
      if (!options.db) await db.close();
    },
  };
}

export interface GqlOptions {
  readonly token?: string;
  /** `x-tenant-id` */
  readonly tenant?: string;
  readonly host?: string;
  readonly headers?: Record<string, string>;
}

export interface GqlResponse<T = any> {
  readonly status: number;
  readonly body: { data?: T | null; errors?: { message: string; path?: string[]; extensions: { code: string; [k: string]: unknown } }[] };
}

/** POST /graphql with a real HTTP client. */
export async function gql<T = any>(server: { url: string }, query: string, variables: Record<string, unknown> = {}, options: GqlOptions = {}): Promise<GqlResponse<T>> {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.tenant) headers['x-tenant-id'] = options.tenant;
  const response = await request(server.url, JSON.stringify({ query, variables }), headers, options.host);
  return { status: response.status, body: JSON.parse(response.text) };
}

/** GET /graphql with the operation in the query string, as urql sends queries by default. */
export async function gqlGet<T = any>(server: { url: string }, query: string, variables: Record<string, unknown> = {}, options: GqlOptions = {}): Promise<GqlResponse<T> & { headers: Headers }> {
  const url = new URL(server.url);
  url.searchParams.set('query', query);
  if (Object.keys(variables).length) url.searchParams.set('variables', JSON.stringify(variables));
  const headers: Record<string, string> = { accept: 'application/graphql-response+json, application/json', ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.tenant) headers['x-tenant-id'] = options.tenant;
  const response = await fetch(url, { headers });
  return { status: response.status, headers: response.headers, body: (await response.json()) as GqlResponse<T>['body'] };
}

/** The first error's code, or undefined. */
export const codeOf = (r: GqlResponse) => r.body.errors?.[0]?.extensions.code;

/**
 * The port a server child process listens on, from its "tenantry listening" log line (pino's JSON),
 * or undefined before it logged one. Children start on PORT=0 and are asked afterwards: a port picked
 * beforehand could be taken by another test's server before the child binds it.
 */
export function listeningPortIn(output: string): number | undefined {
  const line = output.split('\n').find((l) => l.includes('"msg":"tenantry listening"'));
  return line ? (JSON.parse(line) as { port: number }).port : undefined;
}

/** The value of one series (name and labels as printed) in a scrape of the server's /metrics, or undefined when it is absent. */
export async function metricValue(server: { url: string }, series: string): Promise<number | undefined> {
  const text = await (await fetch(server.url.replace(/\/graphql$/, '/metrics'))).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** A raw HTTP request (node:http, so the Host header can be set like a browser on that host would). */
export async function request(url: string, body: string, headers: Record<string, string>, host?: string): Promise<{ status: number; text: string }> {
  const http = await import('node:http');
  const target = new URL(url);
  const finalHeaders = host ? { ...headers, host } : headers;
  return new Promise((resolve, reject) => {
    const req = http.request(
      { hostname: target.hostname, port: target.port, path: target.pathname, method: 'POST', headers: { ...finalHeaders, 'content-length': Buffer.byteLength(body) } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** A graphql-ws client over a real WebSocket. Close it (`dispose`) in the test. */
export function wsClient(
  server: { wsUrl: string },
  params: { token?: string | (() => string); tenant?: string } = {},
  extra: { onClose?: (code: number, reason: string) => void; host?: string; headers?: Record<string, string> } = {},
): Client {
  // The upgrade request's Host, as a browser on a tenant's domain would send it, and any other header
  // (X-Forwarded-For, as a proxy would add it).
  const headers = { ...extra.headers, ...(extra.host ? { host: extra.host } : {}) };
  const webSocketImpl = Object.keys(headers).length
    ? class extends WebSocket {
        constructor(url: string, protocols?: string | string[]) {
          super(url, protocols, { headers });
        }
      }
    : WebSocket;
  return createClient({
    url: server.wsUrl,
    webSocketImpl,
    lazy: true,
    retryAttempts: 0,
    connectionParams: () => {
      const token = typeof params.token === 'function' ? params.token() : params.token;
      return { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(params.tenant ? { 'x-tenant-id': params.tenant } : {}) };
    },
    on: { closed: (event) => extra.onClose?.((event as { code: number }).code, (event as { reason: string }).reason) },
  });
}

/** One query or mutation over WebSocket: its single result. */
export function wsRequest<T = any>(client: Client, query: string, variables: Record<string, unknown> = {}): Promise<ExecutionResult<T, any>> {
  return new Promise((resolve, reject) => {
    let result: ExecutionResult<T, any> | undefined;
    client.subscribe<T>({ query, variables }, { next: (r) => (result = r), error: reject, complete: () => resolve(result!) });
  });
}

/** A subscription's results as they come, with a way to wait for the next ones. */
export function wsSubscribe<T = any>(client: Client, query: string, variables: Record<string, unknown> = {}) {
  const results: ExecutionResult<T, any>[] = [];
  const waiters: (() => void)[] = [];
  let completed = false;
  let failure: unknown;
  const notify = () => waiters.splice(0).forEach((w) => w());
  const unsubscribe = client.subscribe<T>({ query, variables }, {
    next: (r) => {
      results.push(r);
      notify();
    },
    error: (e) => {
      failure = e;
      completed = true;
      notify();
    },
    complete: () => {
      completed = true;
      notify();
    },
  });
  return {
    results,
    get completed() {
      return completed;
    },
    get failure() {
      return failure;
    },
    /** Resolves once `count` results arrived (or the stream ended); rejects after `timeoutMs`. */
    async waitFor(count: number, timeoutMs = 15_000): Promise<ExecutionResult<T, any>[]> {
      const deadline = Date.now() + timeoutMs;
      while (results.length < count && !completed) {
        if (Date.now() > deadline) throw new Error(`waited ${timeoutMs} ms for ${count} results, got ${results.length}: ${JSON.stringify(results)}`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 50);
        });
      }
      return results;
    },
    unsubscribe,
  };
}
