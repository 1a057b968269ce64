import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { NODE } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { createProduct, PASSWORD, readyTenant } from '../support/fixtures.js';
import { productionInstall, type ProductionInstall } from '../support/production.js';
import { gql, listeningPortIn } from '../support/server.js';

// The production start (README): the project built by `npm run build`, run as `node <package.json
// main>` with only `dependencies` installed (tests/support/production.ts), configured with only the
// contract's variables.

let db: TestDatabase;
let install: ProductionInstall;
const children: ChildProcess[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  install = await productionInstall();
}, 60_000);
afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await db.close();
  await install?.remove();
});

function start(env: Record<string, string>) {
  const child = spawn(NODE, [...install.nodeArgs, install.main], {
    cwd: install.dir,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: 'info', ...env },
  });
  children.push(child);
  let output = '';
  child.stdout!.on('data', (c) => (output += c));
  child.stderr!.on('data', (c) => (output += c));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, output: () => output };
}

/** The port the child (started with PORT=0) listens on, once /readyz answers there. */
async function listeningPort(server: ReturnType<typeof start>, timeoutMs = 30_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const port = listeningPortIn(server.output());
    try {
      if (port && (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200) return port;
    } catch {
      // not ready yet
    }
    if (Date.now() > deadline) throw new Error(`server did not become ready:\n${server.output()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('package.json main is the built server, and only production packages resolve beside it', () => {
  expect(install.main).toBe('dist/server/main.js');
  const resolves = (name: string) =>
    spawnSync(NODE, [...install.nodeArgs, '--input-type=module', '-e', `await import(${JSON.stringify(name)})`], { cwd: install.dir }).status === 0;
  expect(resolves('express')).toBe(true);
  expect(resolves('@swc-node/register')).toBe(false); // how `npm start` used to compile TypeScript
  expect(resolves('typescript')).toBe(false);
});

test('in production it starts from DATABASE_URL and JWT_SECRET alone, creates the superadmin, and serves', async () => {
  const server = start({
    NODE_ENV: 'production',
    PORT: '0',
    DATABASE_URL: db.ownerUrl,
    JWT_SECRET: 'production-test-secret-0123456789abcdef',
    BASE_DOMAIN: 'prod.test',
    SUPERADMIN_EMAIL: 'boss@prod.test',
    SUPERADMIN_PASSWORD: PASSWORD,
  });
  const port = await listeningPort(server);
  const url = { url: `http://127.0.0.1:${port}/graphql` };
  const login = await gql(url, `mutation { login(input: {email: "boss@prod.test", password: "${PASSWORD}"}) { user { role } } }`);
  expect(login.body.data.login.user.role).toBe('SUPERADMIN');
  const { rows } = await db.owner.query(`select usename from pg_stat_activity where datname = current_database() and usename = 'tenantry_app' limit 1`);
  expect(rows).toEqual([{ usename: 'tenantry_app' }]); // it connected as the app role, not the owner
  // Decorator metadata survived the build: entities load and save, the worker prepares a tenant.
  const tenant = await readyTenant(url, 'built-acme');
  await createProduct(url, { token: tenant.token }, 'BUILT-1');
  const products = await gql(url, `{ products { edges { node { sku priceCents } } } }`, {}, { token: tenant.token });
  expect(products.body.data.products.edges).toEqual([{ node: { sku: 'BUILT-1', priceCents: 1000 } }]);
  server.child.kill('SIGTERM');
  expect(await server.exited).toBe(0); // graceful shutdown
}, 60_000);

/** An OTLP/HTTP receiver (JSON encoding) on the loopback: the spans a process exports to it. */
async function otlpReceiver() {
  interface OtlpSpan {
    traceId: string;
    spanId: string;
    parentSpanId?: string;
    name: string;
    kind: number;
    attributes: { key: string; value: Record<string, unknown> }[];
  }
  const spans: (OtlpSpan & { service: unknown })[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      for (const rs of JSON.parse(body).resourceSpans ?? []) {
        const service = rs.resource.attributes.find((a: { key: string }) => a.key === 'service.name')?.value.stringValue;
        for (const ss of rs.scopeSpans) for (const span of ss.spans) spans.push({ ...span, service });
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { spans, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise((resolve) => server.close(resolve)) };
}

test('with an OTLP endpoint it exports each operation’s span, in the client’s trace, with its statements as children', async () => {
  const receiver = await otlpReceiver();
  try {
    const server = start({
      NODE_ENV: 'production',
      PORT: '0',
      DATABASE_URL: db.ownerUrl,
      JWT_SECRET: 'production-test-secret-0123456789abcdef',
      BASE_DOMAIN: 'prod.test',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '100',
    });
    const port = await listeningPort(server);
    const url = { url: `http://127.0.0.1:${port}/graphql` };
    const tenant = await readyTenant(url, 'traced-acme');
    const traceId = randomBytes(16).toString('hex');
    const clientSpanId = randomBytes(8).toString('hex');
    const r = await gql(url, `query Products { products { totalCount } }`, {}, { token: tenant.token, headers: { traceparent: `00-${traceId}-${clientSpanId}-01` } });
    expect(r.body.data.products.totalCount).toBe(0);
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0); // stopping exports what was still buffered

    const [operation] = receiver.spans.filter((s) => s.traceId === traceId && s.name === 'query Products');
    expect(operation).toMatchObject({ parentSpanId: clientSpanId, kind: 2 /* SERVER */, service: 'tenantry' });
    expect(operation.attributes).toContainEqual({ key: 'tenantry.tenant.id', value: { stringValue: tenant.tenantId } });
    const statements = receiver.spans.filter((s) => s.parentSpanId === operation.spanId && s.attributes.some((a) => a.key === 'db.query.text'));
    expect(statements.some((s) => s.attributes.some((a) => a.key === 'db.query.text' && /from "product"/.test(String(a.value.stringValue))))).toBe(true);
    // Statements start no trace of their own (the job queue's polling, identifying callers): traces start
    // at operations, and at the job queue's own job spans (pg-boss instruments itself).
    expect(receiver.spans.filter((s) => s.name.startsWith('pg') && !s.parentSpanId)).toEqual([]);
  } finally {
    await receiver.close();
  }
}, 60_000);

test('in production it refuses to start without JWT_SECRET, saying so', async () => {
  const server = start({ NODE_ENV: 'production', PORT: '0', DATABASE_URL: db.ownerUrl });
  expect(await server.exited).toBe(1);
  expect(server.output()).toContain('JWT_SECRET is required in production');
}, 60_000);

test('the built CLI runs with production packages only', () => {
  const cli = spawnSync(NODE, [...install.nodeArgs, 'dist/cli/main.js', '--help'], { cwd: install.dir, encoding: 'utf8' });
  expect(cli.status).toBe(0);
  expect(cli.stdout).toContain('migrate-schemas');
});
