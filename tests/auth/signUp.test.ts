import { PASSWORD } from '../support/fixtures.js';
import { codeOf, gql, startTestServer, type TestServer } from '../support/server.js';
import { claimsOf } from '../support/tokens.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.close());

const SIGN_UP = `mutation($input: SignUpInput!) {
  signUp(input: $input) {
    accessToken refreshToken expiresAt
    user { id email role tenant { id } }
    tenant { id name slug status isActive preparationCompletedAt }
  }
}`;

const input = (slug: string, overrides: Record<string, string> = {}) => ({ tenantName: `Tenant ${slug}`, slug, email: `owner@${slug}.example.com`, password: PASSWORD, ...overrides });

const tenantRows = async (slug: string) => (await server.db.owner.query('select id from tenant where slug = $1', [slug])).rows;

test('signUp returns at once with the tenant PENDING, its first ADMIN and a token pair', async () => {
  const r = await gql(server, SIGN_UP, { input: input('first-shop', { email: 'Owner@First-Shop.Example.com' }) });

  expect(r.status).toBe(200);
  expect(r.body.errors).toBeUndefined();
  const s = r.body.data.signUp;
  expect(s.tenant).toMatchObject({ name: 'Tenant first-shop', slug: 'first-shop', status: 'PENDING', isActive: true, preparationCompletedAt: null });
  expect(s.user).toMatchObject({ email: 'owner@first-shop.example.com', role: 'ADMIN', tenant: { id: s.tenant.id } });
  expect(s.refreshToken).toEqual(expect.any(String));
  expect(s.refreshToken.length).toBeGreaterThanOrEqual(20);

  const claims = claimsOf(s.accessToken);
  expect(claims).toMatchObject({ sub: s.user.id, tenantId: s.tenant.id, role: 'ADMIN', jti: expect.any(String) });
  expect(claims.exp - claims.iat).toBe(15 * 60);
  expect(new Date(s.expiresAt).getTime()).toBe(claims.exp * 1000);

  const me = await gql(server, '{ me { id role } currentTenant { slug } }', {}, { token: s.accessToken });
  expect(me.body.data).toEqual({ me: { id: s.user.id, role: 'ADMIN' }, currentTenant: { slug: 'first-shop' } });
});

test('signUp writes a tenant.signUp audit event', async () => {
  const r = await gql(server, SIGN_UP, { input: input('audited-shop') });
  const { tenant, user } = r.body.data.signUp;

  const { rows } = await server.db.owner.query('select actor_id, tenant_id, target from audit_event where action = $1 and tenant_id = $2', ['tenant.signUp', tenant.id]);
  expect(rows).toEqual([{ actor_id: user.id, tenant_id: tenant.id, target: 'audited-shop' }]);
});

test('signUp refuses a reserved slug with BAD_USER_INPUT on field slug', async () => {
  for (const slug of ['www', 'api', 'admin']) {
    const r = await gql(server, SIGN_UP, { input: input(slug) });
    expect(r.status).toBe(400);
    expect(r.body.data ?? null).toBeNull();
    expect(r.body.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'slug' });
    expect(await tenantRows(slug)).toEqual([]);
  }
});

test('signUp refuses a malformed slug with BAD_USER_INPUT on field slug', async () => {
  for (const slug of ['ab', '9lives', 'under_score', 'space d', '-dash', 'a'.repeat(41)]) {
    const r = await gql(server, SIGN_UP, { input: input('valid-slug', { slug }) });
    expect({ slug, status: r.status, ext: r.body.errors?.[0].extensions, data: r.body.data ?? null }).toEqual({ slug, status: 400, ext: expect.objectContaining({ code: 'BAD_USER_INPUT', field: 'slug' }), data: null });
  }
  expect(await tenantRows('valid-slug')).toEqual([]);
});

test('signUp accepts a slug of 3 and of 40 characters', async () => {
  for (const slug of ['abc', `a${'b'.repeat(38)}9`]) {
    const r = await gql(server, SIGN_UP, { input: input(slug) });
    expect(r.body.errors).toBeUndefined();
    expect(r.body.data.signUp.tenant.slug).toBe(slug);
  }
});

test('signUp refuses a malformed email with BAD_USER_INPUT on field email', async () => {
  for (const email of ['not-an-email', 'a@b', 'two@@example.com', 'sp ace@example.com', '']) {
    const r = await gql(server, SIGN_UP, { input: input('bad-email', { email }) });
    expect({ email, status: r.status, ext: r.body.errors?.[0].extensions, data: r.body.data ?? null }).toEqual({ email, status: 400, ext: expect.objectContaining({ code: 'BAD_USER_INPUT', field: 'email' }), data: null });
  }
  expect(await tenantRows('bad-email')).toEqual([]);
});

test('signUp refuses a password shorter than 10 characters with BAD_USER_INPUT on field password', async () => {
  const r = await gql(server, SIGN_UP, { input: input('short-pass', { password: '123456789' }) });
  expect(r.status).toBe(400);
  expect(r.body.data ?? null).toBeNull();
  expect(r.body.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'password' });
  expect(await tenantRows('short-pass')).toEqual([]);

  const ok = await gql(server, SIGN_UP, { input: input('short-pass', { password: '1234567890' }) });
  expect(ok.body.errors).toBeUndefined();
});

test('signUp with a slug already taken gives CONFLICT (409) and creates nothing', async () => {
  const first = await gql(server, SIGN_UP, { input: input('taken') });
  expect(first.body.errors).toBeUndefined();

  const r = await gql(server, SIGN_UP, { input: input('taken', { email: 'someone-else@example.com', tenantName: 'Copycat' }) });
  expect(r.status).toBe(409);
  expect(r.body.data ?? null).toBeNull();
  expect(codeOf(r)).toBe('CONFLICT');
  expect(await tenantRows('taken')).toHaveLength(1);
  const { rows } = await server.db.owner.query('select 1 from "user" where email = $1', ['someone-else@example.com']);
  expect(rows).toEqual([]);
});
