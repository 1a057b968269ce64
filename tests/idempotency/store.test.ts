/**
 * Idempotency keys through GraphQL (HTTP header, WebSocket extension) and at the database: replay,
 * CONFLICT for another request, concurrent duplicates, failures that leave the key free, expiry, and
 * two tenants and two users who use the same key.
 */
import { randomUUID } from 'node:crypto';
import { inTenant } from '../../src/filters/inTenant.js';
import { KEY_REUSED } from '../../src/idempotency/store.js';
import { FIND_ANSWER, KEY_RETENTION_HOURS } from '../../src/idempotency/sql.js';
import { txQuery } from '../../src/migrate/sql.js';
import { IDEMPOTENCY_TABLE } from '../../src/migrations/Migration20261210000000IdempotencyKeys.js';
import { createCustomer, createProduct, PASSWORD, readyTenant, type SignedUp } from '../support/fixtures.js';
import { appBackendsWaitingOnLocks, holdCounterLock, settledCount } from '../support/locks.js';
import { gql, startTestServer, type TestServer, wsClient } from '../support/server.js';

let server: TestServer;

interface Shop extends SignedUp {
  readonly customerId: string;
  readonly productId: string;
}
let a: Shop;
let b: Shop;
/** A MEMBER of tenant A: a second user of the same tenant. */
let memberOfA: string;

async function shop(slug: string): Promise<Shop> {
  const t = await readyTenant(server, slug);
  return { ...t, customerId: await createCustomer(server, { token: t.token }, 'Ada'), productId: await createProduct(server, { token: t.token }, 'P-1', 250) };
}

beforeAll(async () => {
  server = await startTestServer();
  [a, b] = [await shop('keys-a'), await shop('keys-b')];
  const created = await gql(server, `mutation($i: CreateUserInput!) { createUser(input: $i) { id } }`, { i: { email: 'member@keys-a.example.com', password: PASSWORD, role: 'MEMBER' } }, { token: a.token });
  expect(created.body.errors).toBeUndefined();
  const login = await gql(server, `mutation($i: LoginInput!) { login(input: $i) { accessToken } }`, { i: { email: 'member@keys-a.example.com', password: PASSWORD, tenant: 'keys-a' } });
  memberOfA = login.body.data.login.accessToken;
});
afterAll(() => server.close());

const PLACE_ORDER = `mutation PlaceOrder($i: OrderInput!) { createOrder(input: $i) { id number totalCents } }`;
const orderOf = (s: Shop, quantity = 1) => ({ i: { customerId: s.customerId, lines: [{ productId: s.productId, quantity }] } });

interface Sent {
  readonly status: number;
  readonly replayed: string | null;
  readonly text: string;
  readonly body: { data?: any; errors?: { extensions: Record<string, unknown> }[] };
}

/** POST /graphql with an Idempotency-Key; the raw answer with its status and replay header. */
async function send(token: string, key: string | undefined, variables: Record<string, unknown>, query = PLACE_ORDER): Promise<Sent> {
  const headers: Record<string, string> = { 'content-type': 'application/json', authorization: `Bearer ${token}` };
  if (key !== undefined) headers['idempotency-key'] = key;
  const response = await fetch(server.url, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
  const text = await response.text();
  return { status: response.status, replayed: response.headers.get('idempotent-replayed'), text, body: JSON.parse(text) };
}

interface PlanNode {
  'Shared Hit Blocks': number;
  'Shared Read Blocks': number;
  Plans?: PlanNode[];
}
const heaviestNodePages = (node: PlanNode): number => Math.max(node['Shared Hit Blocks'] + node['Shared Read Blocks'], ...(node.Plans ?? []).map(heaviestNodePages));

async function ordersOf(s: Shop): Promise<number> {
  const { rows } = await server.db.owner.query(`select count(*)::int as n from "order" where tenant_id = $1`, [s.tenantId]);
  return rows[0].n;
}

describe('over HTTP (Idempotency-Key header)', () => {
  test('the same key and request: the second answer is the first one, replayed, and the order exists once', async () => {
    const before = await ordersOf(a);
    const key = randomUUID();
    const first = await send(a.token, key, orderOf(a));
    expect(first).toMatchObject({ status: 200, replayed: null });
    const again = await send(a.token, key, orderOf(a));
    expect(again).toMatchObject({ status: 200, replayed: 'true', text: first.text });
    expect(await ordersOf(a)).toBe(before + 1);
  });

  test('variables with their fields in another order are the same request', async () => {
    const key = randomUUID();
    const first = await send(a.token, key, { i: { customerId: a.customerId, lines: [{ productId: a.productId, quantity: 2 }] } });
    const again = await send(a.token, key, { i: { lines: [{ quantity: 2, productId: a.productId }], customerId: a.customerId } });
    expect(again).toMatchObject({ status: 200, replayed: 'true', text: first.text });
  });

  test('the same key with another request is CONFLICT (409, reason IDEMPOTENCY_KEY_REUSED), and nothing is written', async () => {
    const key = randomUUID();
    await send(a.token, key, orderOf(a, 1));
    const before = await ordersOf(a);
    const other = await send(a.token, key, orderOf(a, 5));
    expect(other.status).toBe(409);
    expect(other.body.errors![0].extensions).toEqual({ code: 'CONFLICT', reason: KEY_REUSED });
    expect(other.body.data ?? null).toBeNull();
    expect(await ordersOf(a)).toBe(before);
  });

  test('concurrent duplicates wait for the first: one order, one answer, the second replayed', async () => {
    const before = await ordersOf(a);
    const key = randomUUID();
    // The first one waits inside its transaction (for the order counter's row lock) holding its key.
    const lock = await holdCounterLock(server.db.owner, a.tenantId);
    let results: Sent[];
    try {
      const first = send(a.token, key, orderOf(a));
      await settledCount(() => appBackendsWaitingOnLocks(server.db.owner), 1);
      const duplicate = send(a.token, key, orderOf(a));
      // The duplicate waits on the key's lock, not on the counter (which it would take after the first).
      await settledCount(() => appBackendsWaitingOnLocks(server.db.owner), 2);
      await lock.release();
      results = await Promise.all([first, duplicate]);
    } finally {
      await lock.release().catch(() => undefined);
    }
    expect(results.map((r) => [r.status, r.replayed])).toEqual([
      [200, null],
      [200, 'true'],
    ]);
    expect(results[1].text).toBe(results[0].text);
    expect(await ordersOf(a)).toBe(before + 1);
  });

  test('a failed mutation stores nothing: the key is free for the corrected request', async () => {
    const key = randomUUID();
    const refused = await send(a.token, key, orderOf(a, 0));
    expect([refused.status, refused.body.errors![0].extensions.code]).toEqual([400, 'BAD_USER_INPUT']);
    const corrected = await send(a.token, key, orderOf(a, 1));
    expect(corrected).toMatchObject({ status: 200, replayed: null });
    expect(corrected.body.data.createOrder.totalCents).toBe(250);
  });

  test('a mutation whose transaction rolled back (a lock wait that timed out) leaves the key free: the retry runs', async () => {
    const impatient = await startTestServer({ db: server.db, worker: false, env: { DB_LOCK_TIMEOUT_MS: '300' } });
    try {
      const before = await ordersOf(a);
      const key = randomUUID();
      const post = (t: { url: string }) =>
        fetch(t.url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${a.token}`, 'idempotency-key': key }, body: JSON.stringify({ query: PLACE_ORDER, variables: orderOf(a) }) });
      const lock = await holdCounterLock(server.db.owner, a.tenantId);
      const timedOut = await post(impatient).finally(() => lock.release());
      expect([timedOut.status, ((await timedOut.json()) as Sent['body']).errors![0].extensions.code]).toEqual([503, 'SERVICE_UNAVAILABLE']);
      const retried = await post(impatient);
      expect([retried.status, retried.headers.get('idempotent-replayed')]).toEqual([200, null]);
      expect(await ordersOf(a)).toBe(before + 1);
    } finally {
      await impatient.close();
    }
  });

  test('an expired answer is not replayed (the key runs anew), and expired rows are deleted as keys are used', async () => {
    const key = randomUUID();
    await send(a.token, key, orderOf(a, 1));
    const [{ hours }] = (await server.db.owner.query(`select extract(epoch from expires_at - created_at) / 3600 as hours from ${IDEMPOTENCY_TABLE} where key = $1`, [key])).rows;
    expect(Number(hours)).toBe(KEY_RETENTION_HOURS);
    const stale = randomUUID();
    await send(a.token, stale, orderOf(a, 1));
    await server.db.owner.query(`update ${IDEMPOTENCY_TABLE} set expires_at = now() - interval '1 second' where key = any($1)`, [[key, stale]]);
    const anew = await send(a.token, key, orderOf(a, 3));
    expect(anew).toMatchObject({ status: 200, replayed: null });
    expect(anew.body.data.createOrder.totalCents).toBe(750);
    const { rows } = await server.db.owner.query(`select key from ${IDEMPOTENCY_TABLE} where key = any($1)`, [[key, stale]]);
    expect(rows).toEqual([{ key }]); // the stale one is gone, the reused one holds its new answer
  });

  test('looking a key up does not read the tenant’s keys once per key (a table without statistics yet)', async () => {
    // 300 live keys of tenant B's user with answers of a realistic size, in a table the planner has no
    // statistics for yet (it guesses from the table's few pages).
    await server.db.owner.query(
      `insert into ${IDEMPOTENCY_TABLE} (tenant_id, user_id, key, request_hash, response, expires_at)
       select $1, $2, gen_random_uuid()::text, sha256(i::text::bytea), json_build_object('data', json_build_object('createOrder', json_build_object('id', gen_random_uuid(), 'number', i, 'totalCents', 250))), now() + interval '1 hour'
         from generate_series(1, 300) i`,
      [b.tenantId, b.userId],
    );
    const [row] = await inTenant(server.db.orm, b.tenantId, async (em) => (await txQuery<Record<string, unknown>>(em, `explain (analyze, buffers, format json) ${FIND_ANSWER}`, [b.tenantId, b.userId, 'absent'])).rows);
    const explained = Object.values(row)[0];
    const [{ Plan: plan }] = (typeof explained === 'string' ? JSON.parse(explained) : explained) as [{ Plan: PlanNode }];
    // The pages of the plan's heaviest node (each node counts its children's; the cleanup is a subplan
    // of its own): 13 here. The statement's first form, `("tenant_id", "id") in (pick)`, re-ran the pick
    // for every row of the tenant: 312 pages here, and 80,000 at 300 rows in a plan that picked by the
    // wrong index (26 ms per keyed mutation).
    expect(heaviestNodePages(plan)).toBeLessThan(100);
  });

  test('a key in double quotes (the IETF draft’s form) is the same key', async () => {
    const key = randomUUID();
    const first = await send(a.token, key, orderOf(a));
    expect(await send(a.token, `"${key}"`, orderOf(a))).toMatchObject({ replayed: 'true', text: first.text });
  });

  test.each([
    ['empty', ''],
    ['with a space', 'two words'],
    ['longer than 255 characters', 'k'.repeat(256)],
    ['with a double quote inside', 'a"b'],
  ])('a key %s is BAD_REQUEST, and nothing runs', async (_what, key) => {
    const before = await ordersOf(a);
    const r = await send(a.token, key, orderOf(a));
    expect([r.status, r.body.errors![0].extensions.code]).toEqual([400, 'BAD_REQUEST']);
    expect(await ordersOf(a)).toBe(before);
  });

  test('a key of 255 characters is accepted', async () => {
    expect(await send(a.token, 'k'.repeat(255), orderOf(a))).toMatchObject({ status: 200 });
  });

  test('on a query the key is ignored (a query writes nothing)', async () => {
    const query = `query Mine { orders(first: 1) { totalCount } }`;
    const key = randomUUID();
    const first = await send(a.token, key, {}, query);
    await send(a.token, undefined, orderOf(a));
    const again = await send(a.token, key, {}, query);
    expect([first.status, again.status, again.replayed]).toEqual([200, 200, null]);
    expect(again.body.data.orders.totalCount).toBe(first.body.data.orders.totalCount + 1);
  });

  test('a user deactivated since the first answer gets UNAUTHENTICATED on the retry, not the stored answer', async () => {
    const email = 'leaving@keys-a.example.com';
    const created = await gql(server, `mutation($i: CreateUserInput!) { createUser(input: $i) { id } }`, { i: { email, password: PASSWORD, role: 'MEMBER' } }, { token: a.token });
    const login = await gql(server, `mutation($i: LoginInput!) { login(input: $i) { accessToken } }`, { i: { email, password: PASSWORD, tenant: 'keys-a' } });
    const leaving = login.body.data.login.accessToken as string;
    const key = randomUUID();
    const first = await send(leaving, key, orderOf(a));
    expect(first).toMatchObject({ status: 200, replayed: null });
    const off = await gql(server, `mutation($id: ID!) { setUserActive(id: $id, isActive: false) { isActive } }`, { id: created.body.data.createUser.id }, { token: a.token });
    expect(off.body.data.setUserActive).toEqual({ isActive: false });
    const retry = await send(leaving, key, orderOf(a));
    expect([retry.status, retry.replayed, retry.body.errors![0].extensions.code]).toEqual([401, null, 'UNAUTHENTICATED']);
    expect(retry.text).not.toContain(first.body.data.createOrder.id);
  });

  test('on a session field (login) the key is BAD_REQUEST: it has no user and tenant to belong to', async () => {
    const r = await send(a.token, randomUUID(), { i: { email: 'admin@keys-a.example.com', password: PASSWORD, tenant: 'keys-a' } }, `mutation($i: LoginInput!) { login(input: $i) { accessToken } }`);
    expect([r.status, r.body.errors![0].extensions.code]).toEqual([400, 'BAD_REQUEST']);
  });
});

test('browsers may send the key (CORS preflight) and read the replay mark', async () => {
  const preflight = await fetch(server.url, { method: 'OPTIONS', headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type,idempotency-key' } });
  expect(preflight.status).toBe(204);
  expect(preflight.headers.get('access-control-allow-headers')).toMatch(/(^|,)idempotency-key(,|$)/);
  const response = await fetch(server.url, { method: 'POST', headers: { origin: 'https://app.example.com', 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ __typename }' }) });
  expect(response.headers.get('access-control-expose-headers')).toMatch(/(^|,)idempotent-replayed(,|$)/);
});

describe('over WebSocket (extensions.idempotencyKey)', () => {
  test('the same mutation sent again with the key is answered from it, marked extensions.idempotentReplayed', async () => {
    const before = await ordersOf(a);
    const client = wsClient(server, { token: a.token });
    try {
      const request = { query: PLACE_ORDER, variables: orderOf(a), extensions: { idempotencyKey: randomUUID() } };
      const once = () =>
        new Promise<any>((resolve, reject) => {
          let result: unknown;
          client.subscribe(request, { next: (r) => (result = r), error: reject, complete: () => resolve(result) });
        });
      const first = await once();
      const again = await once();
      expect(first.extensions).toBeUndefined();
      expect(again).toEqual({ ...first, extensions: { idempotentReplayed: true } });
      expect(await ordersOf(a)).toBe(before + 1);
    } finally {
      await client.dispose();
    }
  });
});

describe('isolation', () => {
  test('two tenants using the same key each get their own answer', async () => {
    const key = randomUUID();
    const [fromA, fromB] = [await send(a.token, key, orderOf(a)), await send(b.token, key, orderOf(b, 2))];
    expect([fromA.status, fromA.replayed, fromB.status, fromB.replayed]).toEqual([200, null, 200, null]);
    expect(fromB.body.data.createOrder.totalCents).toBe(500);
    expect(await send(b.token, key, orderOf(b, 2))).toMatchObject({ replayed: 'true', text: fromB.text });
  });

  test('two users of one tenant using the same key each get their own answer', async () => {
    const key = randomUUID();
    const before = await ordersOf(a);
    const [admin, member] = [await send(a.token, key, orderOf(a)), await send(memberOfA, key, orderOf(a))];
    expect([admin.replayed, member.replayed]).toEqual([null, null]);
    expect(member.body.data.createOrder.id).not.toBe(admin.body.data.createOrder.id);
    expect(await ordersOf(a)).toBe(before + 2);
  });

  test('at the database, a tenant’s transaction sees only its own stored answers, and cannot write another’s', async () => {
    const key = randomUUID();
    await send(a.token, key, orderOf(a));
    await send(b.token, key, orderOf(b));
    const visible = await inTenant(server.db.orm, a.tenantId, async (em) => (await txQuery<{ tenant_id: string }>(em, `select distinct tenant_id from ${IDEMPOTENCY_TABLE}`)).rows);
    expect(visible).toEqual([{ tenant_id: a.tenantId }]);
    const forged = inTenant(server.db.orm, a.tenantId, (em) =>
      txQuery(em, `insert into ${IDEMPOTENCY_TABLE} (tenant_id, user_id, key, request_hash, response, expires_at) values ($1, $2, 'forged', '\\x00', '{}', now() + interval '1 hour')`, [b.tenantId, b.userId]),
    );
    await expect(forged).rejects.toThrow(/row-level security/);
  });
});
