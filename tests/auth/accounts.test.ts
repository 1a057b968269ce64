/**
 * updateUserRole and setUserActive (src/auth/accounts.ts), and what a change does to what the user
 * already holds: access tokens act with the current role (or not at all) from the next request,
 * refresh tokens are revoked, open subscriptions end.
 */
import { changeAccount } from '../../src/auth/accounts.js';
import { Role } from '../../src/entities/User.js';
import { inTenant } from '../../src/filters/inTenant.js';
import { PASSWORD, readyTenant, type SignedUp } from '../support/fixtures.js';
import { codeOf, gql, type GqlResponse, startTestServer, type TestServer, wsClient, wsRequest, wsSubscribe } from '../support/server.js';

let server: TestServer;
let acme: SignedUp;
let other: SignedUp;
beforeAll(async () => {
  server = await startTestServer();
  [acme, other] = await Promise.all([readyTenant(server, 'acme'), readyTenant(server, 'other-co')]);
});
afterAll(() => server.close());

const SET_ROLE = 'mutation($id: ID!, $role: Role!) { updateUserRole(id: $id, role: $role) { id role isActive } }';
const SET_ACTIVE = 'mutation($id: ID!, $on: Boolean!) { setUserActive(id: $id, isActive: $on) { id role isActive } }';
const REFRESH = 'mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken } }';
const LOGIN = 'mutation($i: LoginInput!) { login(input: $i) { accessToken refreshToken user { id role isActive } } }';

const setRole = (token: string, id: string, role: string) => gql(server, SET_ROLE, { id, role }, { token });
const setActive = (token: string, id: string, on: boolean) => gql(server, SET_ACTIVE, { id, on }, { token });

interface Account {
  readonly id: string;
  readonly email: string;
  readonly tenant: string;
  readonly token: string;
  readonly refreshToken: string;
}

let serial = 0;

/** A new user of `tenant` (created by its first admin), logged in. */
async function account(tenant: SignedUp, role: 'ADMIN' | 'MEMBER'): Promise<Account> {
  const email = `user${++serial}@${tenant.slug}.example.com`;
  const created = await gql(server, 'mutation($i: CreateUserInput!) { createUser(input: $i) { id } }', { i: { email, password: PASSWORD, role } }, { token: tenant.token });
  expect(created.body.errors).toBeUndefined();
  const session = await login(email, tenant.slug);
  expect(session.body.errors).toBeUndefined();
  const { accessToken, refreshToken } = session.body.data.login;
  return { id: created.body.data.createUser.id, email, tenant: tenant.slug, token: accessToken, refreshToken };
}

const login = (email: string, tenant: string, password = PASSWORD) => gql(server, LOGIN, { i: { email, password, tenant } });

async function activeAdmins(tenantId: string): Promise<number> {
  const { rows } = await server.db.owner.query(`select count(*)::int as n from "user" where tenant_id = $1 and role = 'ADMIN' and is_active`, [tenantId]);
  return rows[0].n;
}

async function userRow(id: string): Promise<{ role: string; is_active: boolean }> {
  return (await server.db.owner.query('select role, is_active from "user" where id = $1', [id])).rows[0];
}

function expectFailure(r: GqlResponse, code: string, status: number) {
  expect({ status: r.status, code: codeOf(r), data: r.body.data ?? null }).toEqual({ status, code, data: null });
}

async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 25));
}

describe('updateUserRole', () => {
  test('an ADMIN promotes a MEMBER to ADMIN and demotes them again', async () => {
    const member = await account(acme, 'MEMBER');
    const up = await setRole(acme.token, member.id, 'ADMIN');
    expect(up.body).toEqual({ data: { updateUserRole: { id: member.id, role: 'ADMIN', isActive: true } } });
    expect(await userRow(member.id)).toEqual({ role: 'ADMIN', is_active: true });
    const down = await setRole(acme.token, member.id, 'MEMBER');
    expect(down.body.data.updateUserRole.role).toBe('MEMBER');
    expect(await userRow(member.id)).toEqual({ role: 'MEMBER', is_active: true });
  });

  test('SUPERADMIN is BAD_USER_INPUT and changes nothing', async () => {
    const member = await account(acme, 'MEMBER');
    const r = await setRole(acme.token, member.id, 'SUPERADMIN');
    expectFailure(r, 'BAD_USER_INPUT', 400);
    expect(r.body.errors?.[0].extensions.field).toBe('role');
    expect(await userRow(member.id)).toEqual({ role: 'MEMBER', is_active: true });
  });

  test('a malformed id is BAD_USER_INPUT', async () => {
    expectFailure(await setRole(acme.token, 'not-an-id', 'ADMIN'), 'BAD_USER_INPUT', 400);
  });
});

describe('both mutations', () => {
  test("another tenant's user is NOT_FOUND and stays as it was", async () => {
    const foreign = await account(other, 'MEMBER');
    expectFailure(await setRole(acme.token, foreign.id, 'ADMIN'), 'NOT_FOUND', 404);
    expectFailure(await setActive(acme.token, foreign.id, false), 'NOT_FOUND', 404);
    expect(await userRow(foreign.id)).toEqual({ role: 'MEMBER', is_active: true });
    expect((await gql(server, REFRESH, { t: foreign.refreshToken })).body.errors).toBeUndefined();
  });

  test('a MEMBER gets FORBIDDEN and nothing changes', async () => {
    const member = await account(acme, 'MEMBER');
    const target = await account(acme, 'MEMBER');
    expectFailure(await setRole(member.token, target.id, 'ADMIN'), 'FORBIDDEN', 403);
    expectFailure(await setActive(member.token, target.id, false), 'FORBIDDEN', 403);
    expect(await userRow(target.id)).toEqual({ role: 'MEMBER', is_active: true });
  });

  test('each change is written to the audit log', async () => {
    const member = await account(acme, 'MEMBER');
    await setRole(acme.token, member.id, 'ADMIN');
    await setActive(acme.token, member.id, false);
    await setActive(acme.token, member.id, true);
    const { rows } = await server.db.owner.query('select action, actor_id, tenant_id, target from audit_event where target like $1 order by at', [`${member.id}%`]);
    expect(rows).toEqual([
      { action: 'user.setRole', actor_id: acme.userId, tenant_id: acme.tenantId, target: `${member.id} ADMIN` },
      { action: 'user.deactivate', actor_id: acme.userId, tenant_id: acme.tenantId, target: member.id },
      { action: 'user.activate', actor_id: acme.userId, tenant_id: acme.tenantId, target: member.id },
    ]);
  });

  test('setting what the user already is changes nothing: their sessions live on', async () => {
    const member = await account(acme, 'MEMBER');
    expect((await setRole(acme.token, member.id, 'MEMBER')).body.errors).toBeUndefined();
    expect((await setActive(acme.token, member.id, true)).body.errors).toBeUndefined();
    expect((await gql(server, REFRESH, { t: member.refreshToken })).body.errors).toBeUndefined();
  });
});

describe('the last active ADMIN', () => {
  test('cannot be demoted or deactivated (CONFLICT), not even by themselves', async () => {
    const solo = await readyTenant(server, 'solo-co');
    expectFailure(await setRole(solo.token, solo.userId, 'MEMBER'), 'CONFLICT', 409);
    expectFailure(await setActive(solo.token, solo.userId, false), 'CONFLICT', 409);
    expect(await userRow(solo.userId)).toEqual({ role: 'ADMIN', is_active: true });
  });

  test('a deactivated ADMIN does not count as the one that remains', async () => {
    const duo = await readyTenant(server, 'duo-co');
    const second = await account(duo, 'ADMIN');
    expect((await setActive(duo.token, second.id, false)).body.errors).toBeUndefined();
    expectFailure(await setRole(duo.token, duo.userId, 'MEMBER'), 'CONFLICT', 409);
  });

  test('with another active ADMIN, an ADMIN may step down', async () => {
    const pair = await readyTenant(server, 'pair-co');
    await account(pair, 'ADMIN');
    expect((await setRole(pair.token, pair.userId, 'MEMBER')).body.data.updateUserRole.role).toBe('MEMBER');
  });

  test('of two ADMINs demoting each other at once, exactly one succeeds', async () => {
    for (let round = 0; round < 3; round++) {
      const t = await readyTenant(server, `race-${round}`);
      const second = await account(t, 'ADMIN');
      const [first, other] = await Promise.all([setRole(t.token, second.id, 'MEMBER'), setRole(second.token, t.userId, 'MEMBER')]);
      const [loser, winner] = [first, other].map((r) => (r.body.errors ? codeOf(r) : 'ok')).sort();
      // The loser is refused by the admin rows' lock (CONFLICT) or, if the winner committed before its
      // request began, by its own demotion (FORBIDDEN).
      expect(winner).toBe('ok');
      expect(['CONFLICT', 'FORBIDDEN']).toContain(loser);
      expect(await activeAdmins(t.tenantId)).toBe(1);
    }
  });

  test("a second demotion waits on the first one's lock on the admin rows, then sees it: CONFLICT", async () => {
    const t = await readyTenant(server, 'lock-co');
    const second = await account(t, 'ADMIN');
    let changed!: () => void;
    const firstChanged = new Promise<void>((resolve) => (changed = resolve));
    // The first demotion holds its transaction open after writing; the second starts meanwhile.
    const first = inTenant(server.orm, t.tenantId, async (em) => {
      await changeAccount(em, second.id, { role: Role.MEMBER }, t.userId);
      changed();
      await new Promise((resolve) => setTimeout(resolve, 300));
    });
    await firstChanged;
    const attempt = inTenant(server.orm, t.tenantId, (em) => changeAccount(em, t.userId, { role: Role.MEMBER }, second.id));
    await expect(attempt).rejects.toMatchObject({ extensions: { code: 'CONFLICT' } });
    await first;
    expect(await activeAdmins(t.tenantId)).toBe(1);
  });
});

describe('a demoted user', () => {
  test('acts with their current role from the next request, though their token still says ADMIN', async () => {
    const admin = await account(acme, 'ADMIN');
    const before = await gql(server, 'mutation { createProduct(input: {sku: "DEMOTE-1", name: "x", priceCents: 1}) { id } }', {}, { token: admin.token });
    expect(before.body.errors).toBeUndefined();
    await setRole(acme.token, admin.id, 'MEMBER');

    expectFailure(await gql(server, 'mutation { createProduct(input: {sku: "DEMOTE-2", name: "x", priceCents: 1}) { id } }', {}, { token: admin.token }), 'FORBIDDEN', 403);
    expectFailure(await gql(server, '{ users { id } }', {}, { token: admin.token }), 'FORBIDDEN', 403);
    expect((await gql(server, '{ me { role } products { totalCount } }', {}, { token: admin.token })).body.data.me).toEqual({ role: 'MEMBER' });
    const { rows } = await server.db.owner.query(`select sku from product where tenant_id = $1 and sku like 'DEMOTE-%'`, [acme.tenantId]);
    expect(rows).toEqual([{ sku: 'DEMOTE-1' }]);
  });

  test('loses their refresh tokens', async () => {
    const admin = await account(acme, 'ADMIN');
    await setRole(acme.token, admin.id, 'MEMBER');
    expectFailure(await gql(server, REFRESH, { t: admin.refreshToken }), 'UNAUTHENTICATED', 401);
  });

  test('loses their open subscriptions; a colleague keeps theirs', async () => {
    const admin = await account(acme, 'ADMIN');
    const colleague = await account(acme, 'MEMBER');
    const clients = [wsClient(server, { token: admin.token }), wsClient(server, { token: colleague.token })];
    try {
      const [mine, theirs] = clients.map((c) => wsSubscribe(c, 'subscription { tenantStatusChanged { status } }'));
      await Promise.all([mine.waitFor(1), theirs.waitFor(1)]);
      await setRole(acme.token, admin.id, 'MEMBER');
      await until(() => mine.completed);
      expect(mine.completed).toBe(true);
      expect(theirs.completed).toBe(false);
    } finally {
      await Promise.all(clients.map((c) => c.dispose()));
    }
  });
});

describe('a deactivated user', () => {
  test('is UNAUTHENTICATED from their next request with the access token they hold', async () => {
    const member = await account(acme, 'MEMBER');
    expect((await gql(server, '{ me { id } }', {}, { token: member.token })).body.errors).toBeUndefined();
    await setActive(acme.token, member.id, false);
    for (const query of ['{ me { id } }', '{ products { totalCount } }', 'mutation { createCustomer(input: {name: "Ghost"}) { id } }']) {
      expectFailure(await gql(server, query, {}, { token: member.token }), 'UNAUTHENTICATED', 401);
    }
    expect((await server.db.owner.query(`select 1 from customer where name = 'Ghost'`)).rows).toEqual([]);
  });

  test('is refused their next operation on a socket opened before', async () => {
    const member = await account(acme, 'MEMBER');
    const client = wsClient(server, { token: member.token });
    try {
      expect((await wsRequest(client, '{ me { id } }')).data).toEqual({ me: { id: member.id } });
      await setActive(acme.token, member.id, false);
      const r = await wsRequest(client, '{ me { id } }');
      expect(r.data ?? null).toBeNull();
      expect(r.errors?.[0].extensions?.code).toBe('UNAUTHENTICATED');
      const sub = wsSubscribe(client, 'subscription { tenantStatusChanged { status } }');
      await sub.waitFor(1);
      expect(sub.results[0].errors?.[0].extensions?.code).toBe('UNAUTHENTICATED');
    } finally {
      await client.dispose();
    }
  });

  test('loses their open subscriptions', async () => {
    const member = await account(acme, 'MEMBER');
    const client = wsClient(server, { token: member.token });
    try {
      const sub = wsSubscribe(client, 'subscription { tenantStatusChanged { status } }');
      await sub.waitFor(1);
      await setActive(acme.token, member.id, false);
      await until(() => sub.completed);
      expect(sub.completed).toBe(true);
      expect(sub.results).toHaveLength(1);
    } finally {
      await client.dispose();
    }
  });

  test('cannot refresh: their refresh tokens were revoked', async () => {
    const member = await account(acme, 'MEMBER');
    await setActive(acme.token, member.id, false);
    expectFailure(await gql(server, REFRESH, { t: member.refreshToken }), 'UNAUTHENTICATED', 401);
    const { rows } = await server.db.owner.query('select count(*)::int as live from refresh_token where user_id = $1 and revoked_at is null', [member.id]);
    expect(rows[0].live).toBe(0);
  });

  test('cannot log in: the same UNAUTHENTICATED as a wrong password', async () => {
    const member = await account(acme, 'MEMBER');
    await setActive(acme.token, member.id, false);
    const refused = await login(member.email, 'acme');
    const wrong = await login(member.email, 'acme', 'wrong password!');
    expectFailure(refused, 'UNAUTHENTICATED', 401);
    expect(refused.body.errors).toEqual(wrong.body.errors);
  });

  test('logs in again once reactivated, and is listed with isActive', async () => {
    const member = await account(acme, 'MEMBER');
    await setActive(acme.token, member.id, false);
    const listed = await gql(server, '{ users { id isActive } }', {}, { token: acme.token });
    expect(listed.body.data.users).toContainEqual({ id: member.id, isActive: false });
    await setActive(acme.token, member.id, true);
    const again = await login(member.email, 'acme');
    expect(again.body.data.login.user).toEqual({ id: member.id, role: 'MEMBER', isActive: true });
  });
});
