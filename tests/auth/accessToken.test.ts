import { PASSWORD, readyTenant, type SignedUp, superadminToken } from '../support/fixtures.js';
import { codeOf, gql, type GqlResponse, startTestServer, type TestServer, wsClient, wsRequest, wsSubscribe } from '../support/server.js';
import { claimsOf, signToken, unsignedCopy, withPayload } from '../support/tokens.js';

let server: TestServer;
let acme: SignedUp;
let root: string;
beforeAll(async () => {
  server = await startTestServer();
  acme = await readyTenant(server, 'acme');
  root = await superadminToken(server);
});
afterAll(() => server.close());

const PRODUCTS = '{ products { totalCount edges { node { id } } } }';

function expectRefused(r: GqlResponse, code: 'UNAUTHENTICATED' | 'TOKEN_EXPIRED') {
  expect(r.status).toBe(401);
  expect(r.body.data ?? null).toBeNull();
  expect(codeOf(r)).toBe(code);
}

/** Tokens that must not be accepted, and must not be mistaken for expired ones. */
const forgeries = (): [string, string][] => [
  ['signed with another key', signToken({ sub: acme.userId, tenantId: acme.tenantId, role: 'ADMIN' }, { secret: 'not-the-server-secret-0123456789abcdef' })],
  ['alg none', unsignedCopy(acme.token)],
  ['payload changed after signing', withPayload(acme.token, { role: 'SUPERADMIN' })],
  ['tenantId changed after signing', withPayload(acme.token, { tenantId: '00000000-0000-4000-8000-000000000000' })],
  ['exp pushed out after signing', withPayload(signToken({ sub: acme.userId, tenantId: acme.tenantId, role: 'ADMIN' }, { expiresInSeconds: -60 }), { exp: Math.floor(Date.now() / 1000) + 3600 })],
  ['not a JWT', 'garbage.garbage.garbage'],
];

test('the token from signUp is accepted (the baseline the forgeries are compared with)', async () => {
  const r = await gql(server, PRODUCTS, {}, { token: acme.token });
  expect(r.status).toBe(200);
  expect(r.body.errors).toBeUndefined();
  expect(r.body.data.products.totalCount).toBe(0);
});

test('a forged or tampered token gives UNAUTHENTICATED (401) over HTTP', async () => {
  for (const [name, token] of forgeries()) {
    const r = await gql(server, PRODUCTS, {}, { token });
    expect({ name, status: r.status, code: codeOf(r), data: r.body.data ?? null }).toEqual({ name, status: 401, code: 'UNAUTHENTICATED', data: null });
  }
});

test('a malformed Authorization header gives UNAUTHENTICATED (401)', async () => {
  for (const authorization of [`Basic ${acme.token}`, `Bearer`, acme.token]) {
    const r = await gql(server, PRODUCTS, {}, { headers: { authorization } });
    expectRefused(r, 'UNAUTHENTICATED');
  }
});

test('an expired token gives TOKEN_EXPIRED (401) with extensions.action REFRESH_TOKEN', async () => {
  const expired = signToken({ sub: acme.userId, tenantId: acme.tenantId, role: 'ADMIN' }, { expiresInSeconds: -10 });
  const r = await gql(server, PRODUCTS, {}, { token: expired });
  expectRefused(r, 'TOKEN_EXPIRED');
  expect(r.body.errors?.[0].extensions.action).toBe('REFRESH_TOKEN');
});

test('an expired token with a wrong signature is UNAUTHENTICATED, not TOKEN_EXPIRED', async () => {
  const r = await gql(server, PRODUCTS, {}, { token: signToken({ sub: acme.userId, tenantId: acme.tenantId, role: 'ADMIN' }, { secret: 'another-secret-0123456789abcdef', expiresInSeconds: -10 }) });
  expectRefused(r, 'UNAUTHENTICATED');
});

test('a correctly signed non-superadmin token without tenantId gives UNAUTHENTICATED', async () => {
  for (const role of ['ADMIN', 'MEMBER']) {
    const r = await gql(server, PRODUCTS, {}, { token: signToken({ sub: acme.userId, role }) });
    expectRefused(r, 'UNAUTHENTICATED');
    // A header naming the tenant does not make up for the missing claim.
    expectRefused(await gql(server, PRODUCTS, {}, { token: signToken({ sub: acme.userId, role }), tenant: acme.tenantId }), 'UNAUTHENTICATED');
  }
});

test('a correctly signed token with an unknown role or without sub gives UNAUTHENTICATED', async () => {
  expectRefused(await gql(server, PRODUCTS, {}, { token: signToken({ sub: acme.userId, tenantId: acme.tenantId, role: 'OWNER' }) }), 'UNAUTHENTICATED');
  expectRefused(await gql(server, PRODUCTS, {}, { token: signToken({ tenantId: acme.tenantId, role: 'ADMIN' }) }), 'UNAUTHENTICATED');
});

test('a bad token fails even the fields that work without a token', async () => {
  const r = await gql(server, '{ me { id } }', {}, { token: unsignedCopy(acme.token) });
  expectRefused(r, 'UNAUTHENTICATED');
  const expired = await gql(server, '{ me { id } }', {}, { token: signToken({ sub: acme.userId, tenantId: acme.tenantId, role: 'ADMIN' }, { expiresInSeconds: -10 }) });
  expectRefused(expired, 'TOKEN_EXPIRED');
});

test('an expired or forged token sent along with login, refreshToken or signUp does not block them', async () => {
  const expired = signToken({ sub: acme.userId, tenantId: acme.tenantId, role: 'ADMIN' }, { expiresInSeconds: -10 });
  for (const token of [expired, unsignedCopy(acme.token)]) {
    const login = await gql(server, 'mutation($i: LoginInput!) { login(input: $i) { accessToken refreshToken } }', { i: { email: 'admin@acme.example.com', password: PASSWORD, tenant: 'acme' } }, { token });
    expect(login.body.errors).toBeUndefined();
    const refresh = await gql(server, 'mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken refreshToken } }', { t: login.body.data.login.refreshToken }, { token });
    expect(refresh.body.errors).toBeUndefined();
    expect(claimsOf(refresh.body.data.refreshToken.accessToken).sub).toBe(acme.userId);
    const logout = await gql(server, 'mutation($t: String!) { logout(refreshToken: $t) }', { t: refresh.body.data.refreshToken.refreshToken }, { token });
    expect(logout.body).toEqual({ data: { logout: true } });
  }
  const slug = `fresh-${Date.now()}`;
  const signUp = await gql(server, 'mutation($i: SignUpInput!) { signUp(input: $i) { tenant { slug } } }', { i: { tenantName: 'Fresh', slug, email: 'a@fresh.example.com', password: PASSWORD } }, { token: expired });
  expect(signUp.body.errors).toBeUndefined();
  expect(signUp.body.data.signUp.tenant.slug).toBe(slug);
});

test('a superadmin token is accepted without tenantId', async () => {
  const r = await gql(server, '{ me { role } tenants { totalCount } }', {}, { token: root });
  expect(r.body.errors).toBeUndefined();
  expect(r.body.data.me.role).toBe('SUPERADMIN');
});

describe('over WebSocket', () => {
  /** Connects with `token` and runs one query; resolves with the close code, or the result if it ran. */
  async function connectWith(token: string): Promise<{ closeCode?: number; result?: unknown }> {
    let closeCode: number | undefined;
    const client = wsClient(server, { token }, { onClose: (code) => (closeCode ??= code) });
    try {
      const result = await wsRequest(client, '{ me { id } }');
      return { result };
    } catch {
      return { closeCode };
    } finally {
      await client.dispose();
    }
  }

  test('a valid token connects', async () => {
    expect(await connectWith(acme.token)).toEqual({ result: { data: { me: { id: acme.userId } } } });
  });

  test('a forged or tampered token at connect closes the socket with 4403', async () => {
    for (const [name, token] of [...forgeries(), ['non-superadmin without tenantId', signToken({ sub: acme.userId, role: 'ADMIN' })]]) {
      expect({ name, ...(await connectWith(token)) }).toEqual({ name, closeCode: 4403 });
    }
  });

  test('an already expired token at connect closes the socket with 4403', async () => {
    expect(await connectWith(signToken({ sub: acme.userId, tenantId: acme.tenantId, role: 'ADMIN' }, { expiresInSeconds: -10 }))).toEqual({ closeCode: 4403 });
  });

  test('without a token the socket connects, and tenant data gives UNAUTHENTICATED as an operation error', async () => {
    const client = wsClient(server, { tenant: 'acme' });
    try {
      const r = await wsRequest(client, PRODUCTS);
      expect(r.data ?? null).toBeNull();
      expect(r.errors?.[0].extensions?.code).toBe('UNAUTHENTICATED');
      expect(await wsRequest(client, '{ me { id } }')).toEqual({ data: { me: null } });
    } finally {
      await client.dispose();
    }
  });

  test('the server closes the socket with 4403 TOKEN_EXPIRED (retried by graphql-ws clients, unlike 4401) when the token expires', async () => {
    const shortLived = signToken({ sub: acme.userId, tenantId: acme.tenantId, role: 'ADMIN' }, { expiresInSeconds: 2 });
    let closed: { code: number; reason: string } | undefined;
    const client = wsClient(server, { token: shortLived }, { onClose: (code, reason) => (closed ??= { code, reason }) });
    try {
      // A subscription keeps the lazy connection open until the server ends it.
      const sub = wsSubscribe(client, 'subscription { tenantStatusChanged { status } }');
      const [first] = await sub.waitFor(1);
      expect(first.data?.tenantStatusChanged.status).toBe('READY');
      expect(closed).toBeUndefined();
      const deadline = Date.now() + 5000;
      while (!closed && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      expect(closed).toEqual({ code: 4403, reason: 'TOKEN_EXPIRED' });
      expect(Date.now()).toBeGreaterThanOrEqual(claimsOf(shortLived).exp * 1000 - 50);
    } finally {
      await client.dispose();
    }
  });
});
