import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { freePort } from '../../bench/harness.js';
import { NODE } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { createProduct, PASSWORD, readyTenant } from '../support/fixtures.js';
import { productionInstall, type ProductionInstall } from '../support/production.js';
import { gql } from '../support/server.js';

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
    env: { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: 'warn', ...env },
  });
  children.push(child);
  let output = '';
  child.stdout!.on('data', (c) => (output += c));
  child.stderr!.on('data', (c) => (output += c));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, output: () => output };
}

async function waitHealthy(port: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error('server did not become ready');
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
  const port = await freePort();
  const server = start({
    NODE_ENV: 'production',
    PORT: String(port),
    DATABASE_URL: db.ownerUrl,
    JWT_SECRET: 'production-test-secret-0123456789abcdef',
    BASE_DOMAIN: 'prod.test',
    SUPERADMIN_EMAIL: 'boss@prod.test',
    SUPERADMIN_PASSWORD: PASSWORD,
  });
  await waitHealthy(port);
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

test('in production it refuses to start without JWT_SECRET, saying so', async () => {
  const server = start({ NODE_ENV: 'production', PORT: String(await freePort()), DATABASE_URL: db.ownerUrl });
  expect(await server.exited).toBe(1);
  expect(server.output()).toContain('JWT_SECRET is required in production');
}, 60_000);

test('the built CLI runs with production packages only', () => {
  const cli = spawnSync(NODE, [...install.nodeArgs, 'dist/cli/main.js', '--help'], { cwd: install.dir, encoding: 'utf8' });
  expect(cli.status).toBe(0);
  expect(cli.stdout).toContain('migrate-schemas');
});
