import { runCli } from '../support/cli.js';
import { gql, startTestServer, type TestServer } from '../support/server.js';

let server: TestServer;
let env: Record<string, string>;
beforeAll(async () => {
  server = await startTestServer();
  env = { DATABASE_URL: server.db.ownerUrl, APP_DATABASE_URL: server.db.appUrl };
});
afterAll(() => server.close());

const LOGIN = `mutation($i: LoginInput!) { login(input: $i) { user { role tenant { id } } } }`;

test('create-superadmin creates a superadmin who can log in without a tenant, once', async () => {
  const first = await runCli(['create-superadmin', '--email', 'Ops@Example.com', '--password', 'a long enough password'], env);
  expect(first).toMatchObject({ code: 0 });
  expect(first.stdout).toContain('created superadmin');
  const again = await runCli(['create-superadmin', '--email', 'ops@example.com', '--password', 'a long enough password'], env);
  expect(again.stdout).toContain('already exists');
  const r = await gql(server, LOGIN, { i: { email: 'ops@example.com', password: 'a long enough password' } });
  expect(r.body.data.login.user).toEqual({ role: 'SUPERADMIN', tenant: null });
  const { rows } = await server.db.owner.query(`select count(*)::int n from "user" where role = 'SUPERADMIN'`);
  expect(rows[0].n).toBe(1);
}, 60_000);

test('create-superadmin without a password prints its usage and exits 2', async () => {
  const r = await runCli(['create-superadmin', '--email', 'x@example.com'], env);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain('Usage: npm run cli -- create-superadmin');
});
