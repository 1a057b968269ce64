import { createHash, randomBytes } from 'node:crypto';
import { PASSWORD, signUp, type SignedUp, SUPERADMIN_EMAIL, superadminToken } from '../support/fixtures.js';
import { codeOf, gql, type GqlResponse, startTestServer, type TestServer, wsClient, wsRequest } from '../support/server.js';
import { claimsOf } from '../support/tokens.js';

let server: TestServer;
let acme: SignedUp;
beforeAll(async () => {
  server = await startTestServer();
  acme = await signUp(server, 'acme');
});
afterAll(() => server.close());

const REFRESH = 'mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken refreshToken expiresAt user { id } tenant { id } } }';
const LOGOUT = 'mutation($t: String!) { logout(refreshToken: $t) }';

const refresh = (refreshToken: string) => gql(server, REFRESH, { t: refreshToken });
const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');

/** A new session (its own token family) for acme's admin. */
async function login(): Promise<{ accessToken: string; refreshToken: string }> {
  const r = await gql(server, 'mutation($i: LoginInput!) { login(input: $i) { accessToken refreshToken } }', { i: { email: 'admin@acme.example.com', password: PASSWORD, tenant: 'acme' } });
  expect(r.body.errors).toBeUndefined();
  return r.body.data.login;
}

function expectUnauthenticated(r: GqlResponse) {
  expect(r.status).toBe(401);
  expect(r.body.data ?? null).toBeNull();
  expect(codeOf(r)).toBe('UNAUTHENTICATED');
}

test('refreshToken returns a new pair for the same user, and the new access token works', async () => {
  const session = await login();
  const r = await refresh(session.refreshToken);
  expect(r.status).toBe(200);
  expect(r.body.errors).toBeUndefined();
  const next = r.body.data.refreshToken;
  expect(next.refreshToken).not.toBe(session.refreshToken);
  expect(next.accessToken).not.toBe(session.accessToken);
  expect(next.user).toEqual({ id: acme.userId });
  expect(next.tenant).toEqual({ id: acme.tenantId });
  expect(claimsOf(next.accessToken)).toMatchObject({ sub: acme.userId, tenantId: acme.tenantId, role: 'ADMIN' });
  expect(claimsOf(next.accessToken).jti).not.toBe(claimsOf(session.accessToken).jti);

  const me = await gql(server, '{ me { id } }', {}, { token: next.accessToken });
  expect(me.body).toEqual({ data: { me: { id: acme.userId } } });
});

test("AuthPayload.expiresAt is the access token's exp, 15 minutes ahead", async () => {
  const r = await refresh((await login()).refreshToken);
  const { accessToken, expiresAt } = r.body.data.refreshToken;
  const { exp, iat } = claimsOf(accessToken);
  expect(new Date(expiresAt).getTime()).toBe(exp * 1000);
  expect(exp - iat).toBe(900);
  expect(Math.abs(exp * 1000 - (Date.now() + 900_000))).toBeLessThan(10_000);
});

test('refresh tokens are stored hashed, not as issued', async () => {
  const session = await login();
  const { rows } = await server.db.owner.query('select token_hash from refresh_token');
  expect(rows.length).toBeGreaterThan(0);
  expect(rows.map((r) => r.token_hash)).not.toContain(session.refreshToken);
  expect(JSON.stringify(rows)).not.toContain(session.refreshToken);
});

test('a chain of refreshes works, each token once', async () => {
  let token = (await login()).refreshToken;
  for (let i = 0; i < 3; i++) {
    const r = await refresh(token);
    expect(r.body.errors).toBeUndefined();
    token = r.body.data.refreshToken.refreshToken;
  }
});

test('reusing a spent refresh token gives UNAUTHENTICATED and revokes the whole family', async () => {
  const session = await login();
  const second = (await refresh(session.refreshToken)).body.data.refreshToken.refreshToken;
  const third = (await refresh(second)).body.data.refreshToken.refreshToken;

  expectUnauthenticated(await refresh(session.refreshToken)); // replay of the first, spent token
  expectUnauthenticated(await refresh(third)); // the newest token died with its family
  expectUnauthenticated(await refresh(second));
});

test("revoking one family leaves the user's other sessions alone", async () => {
  const victim = await login();
  const other = await login();
  await refresh(victim.refreshToken);
  expectUnauthenticated(await refresh(victim.refreshToken));

  const r = await refresh(other.refreshToken);
  expect(r.body.errors).toBeUndefined();
});

test('of concurrent refreshes with the same token exactly one succeeds, and the family is revoked with its new token', async () => {
  for (let round = 0; round < 3; round++) {
    const session = await login();
    const results = await Promise.all(Array.from({ length: 5 }, () => refresh(session.refreshToken)));
    const won = results.filter((r) => r.body.data?.refreshToken);
    expect(won).toHaveLength(1);
    results.filter((r) => !r.body.data?.refreshToken).forEach(expectUnauthenticated);
    expectUnauthenticated(await refresh(won[0].body.data.refreshToken.refreshToken));
  }
});

test('after logout the refresh token is refused', async () => {
  const session = await login();
  const out = await gql(server, LOGOUT, { t: session.refreshToken });
  expect(out.body).toEqual({ data: { logout: true } });
  expectUnauthenticated(await refresh(session.refreshToken));
});

test('logout ends the whole session: a token refreshed before it is refused too', async () => {
  const session = await login();
  const next = (await refresh(session.refreshToken)).body.data.refreshToken.refreshToken;
  expect((await gql(server, LOGOUT, { t: next })).body).toEqual({ data: { logout: true } });
  expectUnauthenticated(await refresh(next));
});

test('logout leaves the other sessions alone', async () => {
  const a = await login();
  const b = await login();
  await gql(server, LOGOUT, { t: a.refreshToken });
  expect((await refresh(b.refreshToken)).body.errors).toBeUndefined();
});

test('a refresh token past its 30 days gives UNAUTHENTICATED', async () => {
  const session = await login();
  const { rows } = await server.db.owner.query(
    "select extract(epoch from expires_at - created_at)::int as ttl from refresh_token order by created_at desc limit 1",
  );
  expect(rows[0].ttl).toBeGreaterThanOrEqual(30 * 24 * 3600 - 5);
  expect(rows[0].ttl).toBeLessThanOrEqual(30 * 24 * 3600 + 5);
  await server.db.owner.query("update refresh_token set expires_at = now() - interval '1 second' where created_at = (select max(created_at) from refresh_token)");
  expectUnauthenticated(await refresh(session.refreshToken));
});

test('a garbage refresh token gives UNAUTHENTICATED', async () => {
  for (const t of ['garbage', '', 'x'.repeat(500), acme.token]) {
    expectUnauthenticated(await refresh(t));
  }
});

test('refreshToken works over WebSocket without a token', async () => {
  const session = await login();
  const client = wsClient(server);
  try {
    const r = await wsRequest(client, REFRESH, { t: session.refreshToken });
    expect(r.errors).toBeUndefined();
    expect(claimsOf(r.data.refreshToken.accessToken).sub).toBe(acme.userId);
    const again = await wsRequest(client, REFRESH, { t: session.refreshToken });
    expect(again.data ?? null).toBeNull();
    expect(again.errors?.[0].extensions?.code).toBe('UNAUTHENTICATED');
  } finally {
    await client.dispose();
  }
});

describe('a refresh token names its scope', () => {
  test("it is stored hashed with its user's tenant", async () => {
    const session = await login();
    const { rows } = await server.db.owner.query('select tenant_id, user_id from refresh_token where token_hash = $1', [sha256(session.refreshToken)]);
    expect(rows).toEqual([{ tenant_id: acme.tenantId, user_id: acme.userId }]);
  });

  test("presented under another tenant's id it finds nothing (UNAUTHENTICATED), and stays valid as issued", async () => {
    const other = await signUp(server, 'other-scope');
    const session = await login();
    const secret = session.refreshToken.slice(session.refreshToken.indexOf('.') + 1);
    for (const forged of [`${other.tenantId}.${secret}`, `platform.${secret}`, secret]) expectUnauthenticated(await refresh(forged));
    expect((await refresh(session.refreshToken)).body.errors).toBeUndefined();
  });

  test('one issued before tokens named their scope (a bare secret) is UNAUTHENTICATED', async () => {
    const legacy = randomBytes(32).toString('base64url');
    await server.db.owner.query(
      `insert into refresh_token (id, tenant_id, user_id, family_id, token_hash, expires_at, created_at) values (gen_random_uuid(), $1, $2, gen_random_uuid(), $3, now() + interval '1 day', now())`,
      [acme.tenantId, acme.userId, sha256(legacy)],
    );
    expectUnauthenticated(await refresh(legacy));
    expectUnauthenticated(await gql(server, LOGOUT, { t: legacy }));
  });
});

describe("a superadmin's session", () => {
  let superadmin: { accessToken: string; refreshToken: string; userId: string };
  beforeAll(async () => {
    await superadminToken(server);
    const r = await gql(server, 'mutation($i: LoginInput!) { login(input: $i) { accessToken refreshToken user { id } } }', { i: { email: SUPERADMIN_EMAIL, password: PASSWORD } });
    superadmin = { ...r.body.data.login, userId: r.body.data.login.user.id };
  });

  const audited = async (action: string) =>
    (await server.db.owner.query('select actor_id, tenant_id from audit_event where action = $1', [action])).rows;

  test('is a platform row (tenant null), refreshed and ended through the audited escape hatch', async () => {
    const { rows } = await server.db.owner.query('select tenant_id from refresh_token where token_hash = $1', [sha256(superadmin.refreshToken)]);
    expect(rows).toEqual([{ tenant_id: null }]);

    const r = await refresh(superadmin.refreshToken);
    expect(r.body.errors).toBeUndefined();
    expect(r.body.data.refreshToken.user).toEqual({ id: superadmin.userId });
    expect(r.body.data.refreshToken.tenant).toBeNull();
    expect(await audited('superadmin.refresh')).toEqual([{ actor_id: superadmin.userId, tenant_id: null }]);

    expect((await gql(server, LOGOUT, { t: r.body.data.refreshToken.refreshToken })).body).toEqual({ data: { logout: true } });
    expect(await audited('superadmin.logout')).toEqual([{ actor_id: superadmin.userId, tenant_id: null }]);
    expectUnauthenticated(await refresh(r.body.data.refreshToken.refreshToken));
  });

  test("a tenant user's token presented as a platform token finds nothing", async () => {
    const session = await login();
    const secret = session.refreshToken.slice(session.refreshToken.indexOf('.') + 1);
    expectUnauthenticated(await refresh(`platform.${secret}`));
  });
});

test('ACCESS_TOKEN_TTL and REFRESH_TOKEN_TTL set the lifetimes of the tokens a session issues, at login and at refresh', async () => {
  const short = await startTestServer({ env: { ACCESS_TOKEN_TTL: '45s', REFRESH_TOKEN_TTL: '2h' } });
  try {
    const t = await signUp(short, 'short-lived');
    const refreshed = await gql(short, REFRESH, { t: t.refreshToken });
    for (const accessToken of [t.token, refreshed.body.data.refreshToken.accessToken]) {
      const { exp, iat } = claimsOf(accessToken);
      expect(exp - iat).toBe(45);
    }
    expect(Date.parse(refreshed.body.data.refreshToken.expiresAt)).toBe(claimsOf(refreshed.body.data.refreshToken.accessToken).exp * 1000);
    const { rows } = await short.db.owner.query('select extract(epoch from expires_at - created_at)::int as ttl from refresh_token');
    expect(rows.map((r) => Math.abs(r.ttl - 2 * 3600) <= 5)).toEqual([true, true]);
  } finally {
    await short.close();
  }
});
