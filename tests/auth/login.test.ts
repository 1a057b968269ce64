import { startDnsServer, type TestDnsServer, verifiedDomain } from '../support/dns.js';
import { PASSWORD, signUp, type SignedUp, SUPERADMIN_EMAIL, superadminToken, waitReady } from '../support/fixtures.js';
import { BASE_DOMAIN, codeOf, gql, type GqlOptions, startTestServer, type TestServer, wsClient, wsRequest, wsSubscribe } from '../support/server.js';
import { claimsOf } from '../support/tokens.js';

let dns: TestDnsServer;
let server: TestServer;
let acme: SignedUp;
let root: string;
beforeAll(async () => {
  dns = await startDnsServer();
  server = await startTestServer({ env: { DNS_SERVERS: dns.address } });
  acme = await signUp(server, 'acme', 'Boss@Acme.example.com');
  root = await superadminToken(server);
  await verifiedDomain(server, dns, { token: acme.token }, 'shop.acme-corp.example');
});
afterAll(async () => {
  await server.close();
  await dns.close();
});

const LOGIN = `mutation($input: LoginInput!) { login(input: $input) { accessToken refreshToken expiresAt user { id email role } tenant { id slug } } }`;

const login = (input: { email: string; password?: string; tenant?: string }, options: GqlOptions = {}) =>
  gql(server, LOGIN, { input: { password: PASSWORD, ...input } }, options);

/** The login worked and its token is a token of acme's admin. */
function expectAcmeAdminSession(r: Awaited<ReturnType<typeof login>>) {
  expect(r.body.errors).toBeUndefined();
  expect(r.status).toBe(200);
  const s = r.body.data.login;
  expect(s.user).toEqual({ id: acme.userId, email: 'boss@acme.example.com', role: 'ADMIN' });
  expect(s.tenant).toEqual({ id: acme.tenantId, slug: 'acme' });
  expect(claimsOf(s.accessToken)).toMatchObject({ sub: acme.userId, tenantId: acme.tenantId, role: 'ADMIN' });
  expect(new Date(s.expiresAt).getTime()).toBe(claimsOf(s.accessToken).exp * 1000);
}

test('login finds the tenant from input.tenant given as a slug', async () => {
  expectAcmeAdminSession(await login({ email: 'boss@acme.example.com', tenant: 'acme' }));
});

test('login finds the tenant from input.tenant given as an id', async () => {
  expectAcmeAdminSession(await login({ email: 'boss@acme.example.com', tenant: acme.tenantId }));
});

test('login finds the tenant from the x-tenant-id header (id or slug)', async () => {
  expectAcmeAdminSession(await login({ email: 'boss@acme.example.com' }, { tenant: acme.tenantId }));
  expectAcmeAdminSession(await login({ email: 'boss@acme.example.com' }, { tenant: 'acme' }));
});

test('login finds the tenant from the Host <slug>.BASE_DOMAIN', async () => {
  expectAcmeAdminSession(await login({ email: 'boss@acme.example.com' }, { host: `acme.${BASE_DOMAIN}` }));
  expectAcmeAdminSession(await login({ email: 'boss@acme.example.com' }, { host: `acme.${BASE_DOMAIN}:4000` }));
});

test('login finds the tenant from the Host of a custom domain added with addDomain and verified', async () => {
  expectAcmeAdminSession(await login({ email: 'boss@acme.example.com' }, { host: 'shop.acme-corp.example' }));
});

test("the session's tenant comes with its domains (read in the session's scope), also through user.tenant", async () => {
  const r = await gql(server, 'mutation($input: LoginInput!) { login(input: $input) { tenant { domains { hostname } } user { tenant { domains { hostname } } } } }', {
    input: { email: 'boss@acme.example.com', password: PASSWORD, tenant: 'acme' },
  });
  expect(r.body.errors).toBeUndefined();
  expect(r.body.data.login.tenant.domains).toContainEqual({ hostname: 'shop.acme-corp.example' });
  expect(r.body.data.login.user.tenant.domains).toEqual(r.body.data.login.tenant.domains);
});

test('login compares the email case-insensitively', async () => {
  expectAcmeAdminSession(await login({ email: 'BOSS@ACME.Example.COM', tenant: 'acme' }));
});

test('login over WebSocket works like over HTTP', async () => {
  const client = wsClient(server, { tenant: 'acme' });
  try {
    const r = await wsRequest(client, LOGIN, { input: { email: 'boss@acme.example.com', password: PASSWORD } });
    expect(r.errors).toBeUndefined();
    expect(claimsOf(r.data.login.accessToken)).toMatchObject({ sub: acme.userId, tenantId: acme.tenantId });
  } finally {
    await client.dispose();
  }
});

test('an unknown email and a wrong password give the same UNAUTHENTICATED error', async () => {
  const unknown = await login({ email: 'nobody@acme.example.com', tenant: 'acme' });
  const wrong = await login({ email: 'boss@acme.example.com', password: 'wrong password!', tenant: 'acme' });
  for (const r of [unknown, wrong]) {
    expect(r.status).toBe(401);
    expect(r.body.data ?? null).toBeNull();
    expect(codeOf(r)).toBe('UNAUTHENTICATED');
  }
  expect(unknown.body.errors).toEqual(wrong.body.errors);
});

test('a tenant user cannot log in without naming a tenant', async () => {
  const r = await login({ email: 'boss@acme.example.com' });
  expect(r.status).toBe(401);
  expect(r.body.data ?? null).toBeNull();
  expect(codeOf(r)).toBe('UNAUTHENTICATED');
});

test('a user of one tenant cannot log in to another tenant', async () => {
  await signUp(server, 'other-co');
  const r = await login({ email: 'boss@acme.example.com', tenant: 'other-co' });
  expect(r.status).toBe(401);
  expect(codeOf(r)).toBe('UNAUTHENTICATED');
});

test('a superadmin logs in without a tenant and gets a token without tenantId', async () => {
  const r = await login({ email: SUPERADMIN_EMAIL.toUpperCase() });
  expect(r.body.errors).toBeUndefined();
  const s = r.body.data.login;
  expect(s.user).toMatchObject({ email: SUPERADMIN_EMAIL, role: 'SUPERADMIN' });
  expect(s.tenant).toBeNull();
  const claims = claimsOf(s.accessToken);
  expect(claims.role).toBe('SUPERADMIN');
  expect(claims).not.toHaveProperty('tenantId');
});

test('login naming an unknown tenant gives TENANT_NOT_FOUND (404)', async () => {
  const cases: [string, Parameters<typeof login>[0], GqlOptions][] = [
    ['input slug', { email: 'boss@acme.example.com', tenant: 'no-such-tenant' }, {}],
    ['input id', { email: 'boss@acme.example.com', tenant: '00000000-0000-4000-8000-000000000000' }, {}],
    ['header', { email: 'boss@acme.example.com' }, { tenant: 'no-such-tenant' }],
    ['host', { email: 'boss@acme.example.com' }, { host: `no-such-tenant.${BASE_DOMAIN}` }],
  ];
  for (const [name, input, options] of cases) {
    const r = await login(input, options);
    expect({ name, status: r.status, code: codeOf(r), data: r.body.data ?? null }).toEqual({ name, status: 404, code: 'TENANT_NOT_FOUND', data: null });
  }
});

test('a valid token of another tenant sent along with login does not get in its way', async () => {
  const other = await signUp(server, 'third-co');
  expectAcmeAdminSession(await login({ email: 'boss@acme.example.com', tenant: 'acme' }, { token: other.token }));
});

describe('a deactivated tenant', () => {
  let gone: SignedUp;
  beforeAll(async () => {
    gone = await signUp(server, 'gone', 'admin@gone.example.com');
    await waitReady(server, gone.token);
    const former = await gql(server, 'mutation($i: CreateUserInput!) { createUser(input: $i) { id } }', { i: { email: 'former@gone.example.com', password: PASSWORD, role: 'MEMBER' } }, { token: gone.token });
    const off = await gql(server, 'mutation($id: ID!) { setUserActive(id: $id, isActive: false) { isActive } }', { id: former.body.data.createUser.id }, { token: gone.token });
    expect(off.body.data?.setUserActive).toEqual({ isActive: false });
    const r = await gql(server, 'mutation($id: ID!) { setTenantActive(tenantId: $id, isActive: false) { isActive } }', { id: gone.tenantId }, { token: root });
    expect(r.body.data?.setTenantActive).toEqual({ isActive: false });
  });

  const expectInactive = (r: { status: number; body: { data?: unknown; errors?: { extensions: { code: string } }[] } }) => {
    expect(r.status).toBe(403);
    expect(r.body.data ?? null).toBeNull();
    expect(r.body.errors?.[0].extensions.code).toBe('TENANT_INACTIVE');
  };

  test('its users get TENANT_INACTIVE on login', async () => {
    expectInactive(await login({ email: 'admin@gone.example.com', tenant: 'gone' }));
  });

  test('a user deactivated in it gets UNAUTHENTICATED, like wrong credentials, not TENANT_INACTIVE', async () => {
    const r = await login({ email: 'former@gone.example.com', tenant: 'gone' });
    expect({ status: r.status, code: codeOf(r) }).toEqual({ status: 401, code: 'UNAUTHENTICATED' });
  });

  test('its users get TENANT_INACTIVE on refreshToken', async () => {
    expectInactive(await gql(server, 'mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken } }', { t: gone.refreshToken }));
  });

  test('its users get TENANT_INACTIVE on every operation with a token they already hold', async () => {
    for (const query of ['{ me { id } }', '{ currentTenant { id } }', '{ products { totalCount } }', 'mutation { createCustomer(input: {name: "X"}) { id } }']) {
      expectInactive(await gql(server, query, {}, { token: gone.token }));
    }
    const { rows } = await server.db.owner.query('select 1 from customer where tenant_id = $1', [gone.tenantId]);
    expect(rows).toEqual([]);
  });

  test('its users get TENANT_INACTIVE over WebSocket too', async () => {
    const client = wsClient(server, { token: gone.token });
    try {
      const r = await wsRequest(client, '{ me { id } }');
      expect(r.data ?? null).toBeNull();
      expect(r.errors?.[0].extensions?.code).toBe('TENANT_INACTIVE');
    } finally {
      await client.dispose();
    }
  });

  test('an anonymous request naming it gets TENANT_INACTIVE', async () => {
    expectInactive(await gql(server, '{ currentTenant { id } }', {}, { tenant: 'gone' }));
  });

  test('reactivating it lets its users log in again', async () => {
    const r = await gql(server, 'mutation($id: ID!) { setTenantActive(tenantId: $id, isActive: true) { isActive } }', { id: gone.tenantId }, { token: root });
    expect(r.body.data?.setTenantActive).toEqual({ isActive: true });
    const again = await login({ email: 'admin@gone.example.com', tenant: 'gone' });
    expect(again.body.errors).toBeUndefined();
    expect(again.body.data.login.tenant.slug).toBe('gone');
  });
});

test("deactivating a tenant ends its users' open subscriptions", async () => {
  const live = await signUp(server, 'live-co');
  await waitReady(server, live.token);
  const client = wsClient(server, { token: live.token });
  try {
    const sub = wsSubscribe(client, 'subscription { tenantStatusChanged { status } }');
    await sub.waitFor(1);
    expect(sub.completed).toBe(false);
    const r = await gql(server, 'mutation($id: ID!) { setTenantActive(tenantId: $id, isActive: false) { isActive } }', { id: live.tenantId }, { token: root });
    expect(r.body.errors).toBeUndefined();
    const deadline = Date.now() + 5000;
    while (!sub.completed && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 25));
    expect(sub.completed).toBe(true);
    expect(sub.results).toHaveLength(1);
  } finally {
    await client.dispose();
  }
});

describe("a superadmin's login", () => {
  const loginAudits = async () => (await server.db.owner.query(`select actor_id, tenant_id, target from audit_event where action = 'superadmin.login' order by at`)).rows;
  beforeEach(() => server.db.owner.query(`delete from audit_event where action = 'superadmin.login'`));

  test('is one lookup through the audited escape hatch, naming the superadmin it found', async () => {
    const r = await login({ email: SUPERADMIN_EMAIL });
    expect(r.body.errors).toBeUndefined();
    expect(await loginAudits()).toEqual([{ actor_id: r.body.data.login.user.id, tenant_id: null, target: SUPERADMIN_EMAIL }]);
  });

  test('is audited when the password is wrong or the email unknown, and refused alike', async () => {
    const wrong = await login({ email: SUPERADMIN_EMAIL, password: 'wrong password!' });
    const unknown = await login({ email: 'nobody@platform.example.com' });
    expect(wrong.body.errors).toEqual(unknown.body.errors);
    expect(codeOf(wrong)).toBe('UNAUTHENTICATED');
    const audits = await loginAudits();
    expect(audits.map((a) => a.target)).toEqual([SUPERADMIN_EMAIL, 'nobody@platform.example.com']);
    expect(audits[1].actor_id).toBeNull();
  });

  test('a tenant login opens no escape hatch', async () => {
    const before = (await server.db.owner.query('select count(*)::int as n from audit_event where tenant_id is null')).rows[0].n;
    expectAcmeAdminSession(await login({ email: 'boss@acme.example.com', tenant: 'acme' }));
    expect((await server.db.owner.query('select count(*)::int as n from audit_event where tenant_id is null')).rows[0].n).toBe(before);
  });
});
