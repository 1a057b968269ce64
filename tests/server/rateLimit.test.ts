import { randomUUID } from 'node:crypto';
import type { FormattedExecutionResult } from 'graphql-ws';
import { signUp } from '../support/fixtures.js';
import { codeOf, gql, type GqlOptions, startTestServer, type TestServer, wsClient, wsRequest } from '../support/server.js';
import { signToken } from '../support/tokens.js';

// Every test gets servers (and so counters) of its own: all its clients come from 127.0.0.1.
const servers: TestServer[] = [];
const clients: { dispose(): Promise<void> | void }[] = [];

async function serve(env: Record<string, string> = {}, db?: TestServer['db']): Promise<TestServer> {
  const server = await startTestServer({ env: { RATE_LIMIT_PER_MINUTE: '5', ...env }, db });
  servers.push(server);
  return server;
}

afterEach(async () => {
  for (const c of clients.splice(0)) await c.dispose();
  // Servers sharing a database close before the one that created it.
  for (const s of servers.splice(0).reverse()) await s.close();
});

const hello = (server: TestServer, options: GqlOptions = {}) => gql(server, '{ __typename }', {}, options);
const superadmin = () => signToken({ sub: randomUUID(), role: 'SUPERADMIN' });
const member = (tenantId: string) => signToken({ sub: randomUUID(), role: 'MEMBER', tenantId });
const forwardedFor = (address: string): GqlOptions => ({ headers: { 'x-forwarded-for': address } });

function ws(server: TestServer, params: { token?: string } = {}, headers?: Record<string, string>) {
  const client = wsClient(server, params, { headers });
  clients.push(client);
  return client;
}

async function statuses(count: number, send: () => Promise<{ status: number }>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < count; i++) out.push((await send()).status);
  return out;
}

const wsCode = (r: FormattedExecutionResult) => r.errors?.[0]?.extensions?.code;

test('past its limit a client gets RATE_LIMITED (429) with retryAfter and a Retry-After header', async () => {
  const server = await serve();
  expect(await statuses(5, () => hello(server))).toEqual([200, 200, 200, 200, 200]);
  const r = await hello(server);
  expect(r.status).toBe(429);
  expect(codeOf(r)).toBe('RATE_LIMITED');
  const retryAfter = r.body.errors![0].extensions.retryAfter as number;
  expect(retryAfter).toBeGreaterThan(0);
  expect(retryAfter).toBeLessThanOrEqual(60);
  const raw = await fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ __typename }"}' });
  expect(raw.status).toBe(429);
  expect(raw.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
});

test('operations on one WebSocket count like requests: past the limit each is RATE_LIMITED with retryAfter', async () => {
  const server = await serve();
  const client = ws(server);
  for (let i = 0; i < 5; i++) expect((await wsRequest(client, '{ __typename }')).data).toEqual({ __typename: 'Query' });
  const refused = await wsRequest(client, '{ __typename }');
  expect(wsCode(refused)).toBe('RATE_LIMITED');
  expect(refused.errors![0].extensions!.retryAfter).toBeGreaterThan(0);
});

test('HTTP requests and WebSocket operations share one allowance per user', async () => {
  const server = await serve();
  const token = superadmin();
  const client = ws(server, { token });
  expect(await statuses(3, () => hello(server, { token }))).toEqual([200, 200, 200]);
  for (let i = 0; i < 2; i++) expect((await wsRequest(client, '{ __typename }')).errors).toBeUndefined();
  expect((await hello(server, { token })).status).toBe(429);
  expect(wsCode(await wsRequest(client, '{ __typename }'))).toBe('RATE_LIMITED');
});

test('a signed-in user has an allowance of their own: others on the same address still get through', async () => {
  const server = await serve();
  const greedy = superadmin();
  await statuses(5, () => hello(server, { token: greedy }));
  expect((await hello(server, { token: greedy })).status).toBe(429);
  expect((await hello(server, { token: superadmin() })).status).toBe(200);
  expect((await hello(server)).status).toBe(200); // anonymous, keyed by the address
});

test('a user’s allowance follows them from address to address', async () => {
  // Addresses are trusted here (as behind a proxy): the key is still the user, not the address.
  const server = await serve({ NODE_ENV: 'production', TRUST_PROXY: '127.0.0.1' });
  const token = superadmin();
  for (let i = 0; i < 5; i++) expect((await hello(server, { token, ...forwardedFor(`203.0.113.${i}`) })).status).toBe(200);
  expect((await hello(server, { token, ...forwardedFor('203.0.113.99') })).status).toBe(429);
});

test('a tenant’s users together are limited by TENANT_RATE_LIMIT_PER_MINUTE; another tenant is not', async () => {
  const server = await serve({ TENANT_RATE_LIMIT_PER_MINUTE: '8' });
  const [a, b] = [await signUp(server, 'busy-tenant'), await signUp(server, 'quiet-tenant')];
  const first = member(a.tenantId);
  const second = member(a.tenantId);
  expect(await statuses(5, () => hello(server, { token: first }))).toEqual([200, 200, 200, 200, 200]);
  expect(await statuses(3, () => hello(server, { token: second }))).toEqual([200, 200, 200]);
  const r = await hello(server, { token: second });
  expect({ status: r.status, code: codeOf(r) }).toEqual({ status: 429, code: 'RATE_LIMITED' });
  expect((await hello(server, { token: member(a.tenantId) })).status).toBe(429);
  expect((await hello(server, { token: member(b.tenantId) })).status).toBe(200);
});

test('a user over their own limit does not use up their tenant’s allowance', async () => {
  const server = await serve({ TENANT_RATE_LIMIT_PER_MINUTE: '8' });
  const { tenantId } = await signUp(server, 'one-greedy-user');
  const greedy = member(tenantId);
  expect(await statuses(20, () => hello(server, { token: greedy }))).toEqual([...Array(5).fill(200), ...Array(15).fill(429)]);
  expect(await statuses(3, () => hello(server, { token: member(tenantId) }))).toEqual([200, 200, 200]);
});

test('operations in the tenant count before the caller check: a deactivated user is refused, then limited like anyone', async () => {
  const server = await serve();
  const { token, userId } = await signUp(server, 'checked-then-counted');
  const me = () => gql(server, '{ me { id } }', {}, { token });
  expect(await statuses(3, me)).toEqual([200, 200, 200]);
  await server.db.owner.query('update "user" set is_active = false where id = $1', [userId]);
  const refused = await me();
  expect({ status: refused.status, code: codeOf(refused) }).toEqual({ status: 401, code: 'UNAUTHENTICATED' });
  expect((await me()).status).toBe(401);
  const limited = await me();
  expect({ status: limited.status, code: codeOf(limited) }).toEqual({ status: 429, code: 'RATE_LIMITED' });
});

test('anonymous calls naming a tenant do not count against that tenant', async () => {
  const server = await serve({ TENANT_RATE_LIMIT_PER_MINUTE: '3' });
  const { tenantId, slug } = await signUp(server, 'named-by-strangers');
  await statuses(10, () => hello(server, { tenant: slug }));
  expect(await statuses(3, () => hello(server, { token: member(tenantId) }))).toEqual([200, 200, 200]);
});

test('two servers on one database share the counters: together they admit the limit, not twice it', async () => {
  const first = await serve();
  const second = await serve({}, first.db);
  expect(await statuses(3, () => hello(first))).toEqual([200, 200, 200]);
  expect(await statuses(2, () => hello(second))).toEqual([200, 200]);
  expect((await hello(first)).status).toBe(429);
  expect((await hello(second)).status).toBe(429);
});

test('while the counters cannot be reached, each server still limits in memory', async () => {
  const server = await serve();
  await server.db.owner.query('revoke all on rate_limit from tenantry_app');
  expect(await statuses(6, () => hello(server))).toEqual([200, 200, 200, 200, 200, 429]);
});

describe('the client address', () => {
  test('by default X-Forwarded-For is ignored (production too): random values do not escape the limit', async () => {
    const server = await serve({ NODE_ENV: 'production' });
    const random = () => forwardedFor(`198.51.100.${Math.floor(Math.random() * 250)}, 10.${Math.floor(Math.random() * 250)}.0.1`);
    expect(await statuses(5, () => hello(server, random()))).toEqual([200, 200, 200, 200, 200]);
    expect((await hello(server, random())).status).toBe(429);
  });

  test('by default a WebSocket upgrade’s X-Forwarded-For is ignored too', async () => {
    const server = await serve({ NODE_ENV: 'production' });
    for (let i = 0; i < 5; i++) expect((await wsRequest(ws(server, {}, { 'x-forwarded-for': `198.51.100.${i}` }), '{ __typename }')).errors).toBeUndefined();
    expect(wsCode(await wsRequest(ws(server, {}, { 'x-forwarded-for': '198.51.100.77' }), '{ __typename }'))).toBe('RATE_LIMITED');
  });

  test('with TRUST_PROXY listing the proxy, the address it forwards is the client’s, on both transports', async () => {
    const server = await serve({ TRUST_PROXY: '127.0.0.1/32' });
    expect(await statuses(3, () => hello(server, forwardedFor('203.0.113.1')))).toEqual([200, 200, 200]);
    for (let i = 0; i < 2; i++) expect((await wsRequest(ws(server, {}, { 'x-forwarded-for': '203.0.113.1' }), '{ __typename }')).errors).toBeUndefined();
    expect((await hello(server, forwardedFor('203.0.113.1'))).status).toBe(429);
    expect(wsCode(await wsRequest(ws(server, {}, { 'x-forwarded-for': '203.0.113.1' }), '{ __typename }'))).toBe('RATE_LIMITED');
    expect((await hello(server, forwardedFor('203.0.113.2'))).status).toBe(200);
    expect((await wsRequest(ws(server, {}, { 'x-forwarded-for': '203.0.113.3' }), '{ __typename }')).errors).toBeUndefined();
  });

  test('with TRUST_PROXY as a hop count, addresses beyond the trusted hops cannot change the key', async () => {
    const server = await serve({ TRUST_PROXY: '1' });
    // One trusted proxy (the socket's peer): the client is the last address it appended.
    for (let i = 0; i < 5; i++) expect((await hello(server, forwardedFor(`10.9.9.${i}, 203.0.113.1`))).status).toBe(200);
    expect((await hello(server, forwardedFor('10.9.9.99, 203.0.113.1'))).status).toBe(429);
    expect((await hello(server, forwardedFor('203.0.113.2'))).status).toBe(200);
  });
});
