/**
 * One tenant flooding the server cannot starve another (issue 8, item 3): a tenant's units of work
 * hold at most its share of the pool (TENANT_MAX_CONNECTIONS), the rest of its requests wait in the
 * connection gate, and past DB_ACQUIRE_TIMEOUT_MS they are refused with a retryable RATE_LIMITED.
 *
 * The flood is made deterministic by holding tenant A's order-counter lock from the test: every
 * `createOrder` of A that gets a connection then waits on that lock while holding it, as a burst of
 * large orders does for seconds. (One mutation of 10 orders of 1,000 lines is QUERY_TOO_COMPLEX since
 * list arguments count toward complexity; 9 pass.)
 */
import { createCustomer, createProduct, readyTenant, type SignedUp } from '../support/fixtures.js';
import { appBackendsWaitingOnLocks, holdCounterLock, settledCount, within } from '../support/locks.js';
import { codeOf, gql, type GqlResponse, startTestServer, type TestServer, wsClient, wsRequest } from '../support/server.js';

const V_QUERY = '{ products(first: 1) { edges { node { sku } } } }';
const ORDER = 'mutation($i: OrderInput!) { createOrder(input: $i) { number } }';

describe('a tenant flooding with orders while another reads', () => {
  let server: TestServer;
  let a: SignedUp;
  let v: SignedUp;
  let order: { customerId: string; productId: string };

  beforeAll(async () => {
    // No lock timeout: A's orders wait on the held lock for as long as the test holds it.
    server = await startTestServer({ env: { DB_LOCK_TIMEOUT_MS: '0' } });
    [a, v] = [await readyTenant(server, 'flood-a'), await readyTenant(server, 'quiet-v')];
    order = { productId: await createProduct(server, { token: a.token }, 'A-1', 100), customerId: await createCustomer(server, { token: a.token }, 'Ada') };
    await createProduct(server, { token: v.token }, 'V-1', 100);
  });
  afterAll(() => server.close());

  test('holds only its share of the pool, and the other tenant is answered over HTTP and WebSocket meanwhile', async () => {
    const share = server.config.database.tenantMaxConnections;
    expect(share).toBe(3); // a third of the default pool of 10
    const lock = await holdCounterLock(server.db.owner, a.tenantId);
    const aWs = wsClient(server, { token: a.token });
    const vWs = wsClient(server, { token: v.token });
    try {
      // A: one mutation of 9 orders × 1,000 lines, and 12 one-line orders, 6 of them over WebSocket.
      const lines = Array.from({ length: 1000 }, () => ({ productId: order.productId, quantity: 1 }));
      const big = `mutation($l: [OrderLineInput!]!) { ${Array.from({ length: 9 }, (_, i) => `o${i}: createOrder(input: {customerId: "${order.customerId}", lines: $l}) { number }`).join(' ')} }`;
      const small = { i: { customerId: order.customerId, lines: [{ productId: order.productId, quantity: 1 }] } };
      const flood: Promise<{ data?: unknown; code?: unknown; retryAfter?: unknown }>[] = [
        gql(server, big, { l: lines }, { token: a.token }).then(outcome),
        ...Array.from({ length: 6 }, () => gql(server, ORDER, small, { token: a.token }).then(outcome)),
        ...Array.from({ length: 6 }, () => wsRequest(aWs, ORDER, small).then((r) => ({ data: r.data, code: r.errors?.[0]?.extensions?.code, retryAfter: r.errors?.[0]?.extensions?.retryAfter }))),
      ];

      // Before the gate, A's requests took every connection of the pool (10) and all waited on the lock.
      expect(await settledCount(() => appBackendsWaitingOnLocks(server.db.owner), share)).toBe(share);

      const reads = [
        ...Array.from({ length: 10 }, () => gql(server, V_QUERY, {}, { token: v.token }).then((r) => r.body.data)),
        ...Array.from({ length: 10 }, () => wsRequest(vWs, V_QUERY).then((r) => r.data)),
      ];
      const answered = await within(10_000, "V's reads while A floods", Promise.all(reads));
      expect(answered).toEqual(Array(20).fill({ products: { edges: [{ node: { sku: 'V-1' } }] } }));
      // V's units of work never queued behind A's lock: still only A's share waits on it.
      expect(await appBackendsWaitingOnLocks(server.db.owner)).toBe(share);

      await lock.release();
      // A is answered too: its orders, or a retryable refusal for those that waited past the timeout.
      for (const r of await Promise.all(flood)) {
        if (r.code === undefined) expect(r.data).toBeTruthy();
        else expect({ code: r.code, retryAfter: r.retryAfter }).toEqual({ code: expect.stringMatching(/^(RATE_LIMITED|SERVICE_UNAVAILABLE)$/), retryAfter: expect.any(Number) });
      }
    } finally {
      await lock.release().catch(() => undefined);
      await aWs.dispose();
      await vWs.dispose();
    }
  }, 60_000);
});

function outcome(r: GqlResponse) {
  return { data: r.body.data, code: codeOf(r), retryAfter: r.body.errors?.[0]?.extensions.retryAfter };
}

describe("a tenant's requests beyond its share", () => {
  let server: TestServer;
  let a: SignedUp;
  let input: { i: { customerId: string; lines: { productId: string; quantity: number }[] } };

  beforeAll(async () => {
    server = await startTestServer({ env: { TENANT_MAX_CONNECTIONS: '1', DB_ACQUIRE_TIMEOUT_MS: '300' } });
    a = await readyTenant(server, 'share-a');
    const productId = await createProduct(server, { token: a.token }, 'A-1', 100);
    input = { i: { customerId: await createCustomer(server, { token: a.token }, 'Ada'), lines: [{ productId, quantity: 1 }] } };
  });
  afterAll(() => server.close());

  test('wait for it at most DB_ACQUIRE_TIMEOUT_MS, then are RATE_LIMITED with Retry-After over HTTP and retryAfter over WebSocket', async () => {
    const lock = await holdCounterLock(server.db.owner, a.tenantId);
    const ws = wsClient(server, { token: a.token });
    try {
      const first = gql(server, ORDER, input, { token: a.token });
      await settledCount(() => appBackendsWaitingOnLocks(server.db.owner), 1, 100);

      const started = performance.now();
      const overHttp = await fetch(server.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${a.token}` },
        body: JSON.stringify({ query: '{ products(first: 1) { totalCount } }' }),
      });
      expect(performance.now() - started).toBeGreaterThanOrEqual(290);
      expect(overHttp.status).toBe(429);
      expect(overHttp.headers.get('retry-after')).toBe('1');
      expect(((await overHttp.json()) as { errors: { extensions: unknown }[] }).errors[0].extensions).toEqual({ code: 'RATE_LIMITED', retryAfter: 1 });
      const overWs = await wsRequest(ws, ORDER, input);
      expect(overWs.errors![0].extensions).toEqual({ code: 'RATE_LIMITED', retryAfter: 1 });

      await lock.release();
      expect((await first).body.data.createOrder.number).toBe(1); // the refused order took no number
    } finally {
      await lock.release().catch(() => undefined);
      await ws.dispose();
    }
  });
});
