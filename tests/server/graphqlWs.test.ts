import { createClient } from 'graphql-ws';
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { eventually } from '../support/eventually.js';
import { refreshSession, signUp, superadminSession } from '../support/fixtures.js';
import { metricValue, startTestServer, type TestServer, wsClient, wsRequest, wsSubscribe } from '../support/server.js';
import { claimsOf, signToken } from '../support/tokens.js';

const servers: TestServer[] = [];
const disposers: (() => unknown)[] = [];

async function serve(env: Record<string, string> = {}): Promise<TestServer> {
  const server = await startTestServer({ env });
  servers.push(server);
  return server;
}

afterEach(async () => {
  for (const dispose of disposers.splice(0)) await dispose();
  for (const s of servers.splice(0)) await s.close();
});

/** A graphql-ws client whose close code and reason are recorded. */
function client(server: TestServer, token?: string) {
  const closes: [number, string][] = [];
  const c = wsClient(server, { token }, { onClose: (code, reason) => closes.push([code, reason]) });
  disposers.push(() => c.dispose());
  return { c, closes };
}

/** A raw WebSocket upgrade: 101 and the open socket, or the HTTP status that refused it. */
function upgrade(server: TestServer): Promise<{ status: number; socket?: WebSocket }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(server.wsUrl, 'graphql-transport-ws');
    socket.once('open', () => {
      socket.send(JSON.stringify({ type: 'connection_init' }));
      disposers.push(() => socket.terminate());
      resolve({ status: 101, socket });
    });
    socket.once('unexpected-response', (req, res) => {
      res.resume();
      req.destroy();
      resolve({ status: res.statusCode ?? 0 });
    });
    socket.on('error', reject);
  });
}

test('a message over 1 MB closes the socket with 1009 (Message Too Big)', async () => {
  const server = await serve();
  const { c, closes } = client(server);
  expect((await wsRequest(c, '{ __typename }')).data).toEqual({ __typename: 'Query' });
  await expect(wsRequest(c, `{ __typename }${' '.repeat(2 * 1024 * 1024)}`)).rejects.toMatchObject({ code: 1009 });
  expect(closes.map(([code]) => code)).toContain(1009);
});

test('a message under 1 MB is still read (and answered by the pipeline)', async () => {
  const server = await serve();
  const { c } = client(server);
  const r = await wsRequest(c, `{ __typename }${' '.repeat(900 * 1024)}`);
  expect(r.data).toEqual({ __typename: 'Query' });
});

test('a socket holds at most 100 live subscriptions: the next is TOO_MANY_SUBSCRIPTIONS until one completes', async () => {
  const server = await serve();
  const { token } = await signUp(server, 'many-subscriptions');
  const { c } = client(server, token);
  const watch = () => wsSubscribe(c, 'subscription { tenantStatusChanged { status } }');
  const live = Array.from({ length: 100 }, watch);
  for (const s of live) await s.waitFor(1);
  expect(live.every((s) => !s.completed && !s.results[0].errors)).toBe(true);

  const refused = watch();
  await refused.waitFor(1);
  expect(refused.results[0].errors?.[0]?.extensions).toEqual({ code: 'TOO_MANY_SUBSCRIPTIONS', limit: 100 });
  await refused.waitFor(2, 2000).catch(() => undefined);
  expect(refused.completed).toBe(true);

  live[0].unsubscribe();
  let next = watch();
  // The server hears the unsubscribe a moment after the client sends it.
  await eventually(
    async () => {
      await next.waitFor(1);
      if (!next.results[0].errors) return true;
      next = watch();
      return false;
    },
    5000,
    'a subscription freed',
  );
  expect(next.completed).toBe(false);
});

test('sockets per client address are capped at the upgrade: 429 until one closes', async () => {
  const server = await serve({ WS_MAX_SOCKETS_PER_IP: '3' });
  const open = [await upgrade(server), await upgrade(server), await upgrade(server)];
  expect(open.map((o) => o.status)).toEqual([101, 101, 101]);
  expect((await upgrade(server)).status).toBe(429);
  open[0].socket!.close();
  await eventually(async () => (await upgrade(server)).status === 101, 5000, 'an upgrade accepted once a socket closed');
});

test('sockets per user are capped at connection_init: 1013 TOO_MANY_CONNECTIONS, which clients retry later', async () => {
  const server = await serve({ WS_MAX_SOCKETS_PER_USER: '2' });
  const { token, tenantId } = await signUp(server, 'many-sockets');
  /** A socket kept open by a subscription (its first event says the socket was accepted). */
  const hold = (as: string) => {
    const { c, closes } = client(server, as);
    return { c, closes, sub: wsSubscribe(c, 'subscription { tenantStatusChanged { status } }') };
  };
  const [first, second] = [hold(token), hold(token)];
  for (const { sub } of [first, second]) expect((await sub.waitFor(1))[0].errors).toBeUndefined();

  const third = hold(token);
  await third.sub.waitFor(1);
  expect(third.sub.failure).toMatchObject({ code: 1013, reason: 'TOO_MANY_CONNECTIONS' });
  expect(third.closes).toEqual([[1013, 'TOO_MANY_CONNECTIONS']]);
  // Another user of the same tenant, on the same address, is not affected. A real row: every operation
  // checks its caller's current role and active flag, so a token naming no user is refused.
  const colleagueId = randomUUID();
  await server.db.owner.query(`insert into "user" (id, tenant_id, email, role, password_hash, created_at) values ($1, $2, 'colleague@many-sockets.example.com', 'MEMBER', 'x', now())`, [
    colleagueId,
    tenantId,
  ]);
  const colleague = hold(signToken({ sub: colleagueId, role: 'MEMBER', tenantId }));
  expect((await colleague.sub.waitFor(1))[0].errors).toBeUndefined();

  await first.c.dispose();
  const accepted = async () => {
    const [event] = await hold(token).sub.waitFor(1);
    return event !== undefined && !event.errors;
  };
  await eventually(accepted, 5000, 'a subscription accepted once a socket closed');
});

test("a subscription outlives its access token: graphql-ws retries the 4403 TOKEN_EXPIRED close and resubscribes with a lazy connectionParams' fresh token", async () => {
  const server = await serve({ ACCESS_TOKEN_TTL: '10s' });
  let session = await superadminSession(server);
  const sent: string[] = [];
  const closes: [number, string][] = [];
  // The client as an app configures it: graphql-ws's own retries, and connection params that hand over
  // the current access token, refreshed once it is (about to be) expired. No resubscribing by hand.
  const client = createClient({
    url: server.wsUrl,
    webSocketImpl: WebSocket,
    retryAttempts: 5,
    connectionParams: async () => {
      if (claimsOf(session.accessToken).exp * 1000 - Date.now() < 2000) session = await refreshSession(server, session.refreshToken);
      sent.push(session.accessToken);
      return { authorization: `Bearer ${session.accessToken}` };
    },
    on: { closed: (event) => void closes.push([(event as CloseEvent).code, (event as CloseEvent).reason]) },
  });
  disposers.push(() => client.dispose());
  // A superadmin's stream of every tenant's status changes: each event below happened after subscribing.
  const sub = wsSubscribe<{ tenantStatusChanged: { tenantId: string; status: string } }>(client, 'subscription { tenantStatusChanged { tenantId status } }');
  const readyEvent = (tenantId: string) =>
    eventually(() => sub.results.some((r) => r.data?.tenantStatusChanged.tenantId === tenantId && r.data.tenantStatusChanged.status === 'READY'), 20_000);

  // The stream of every tenant has no first event: sign up only once the server holds the subscription,
  // or the new tenant's changes can all happen before it listens (a CI failure under a loaded suite).
  await eventually(async () => (await metricValue(server, 'tenantry_ws_subscriptions')) === 1, 10_000, 'the subscription held');
  const before = await signUp(server, 'before-expiry');
  expect(await readyEvent(before.tenantId)).toBe(true);

  // The token expires 10 s after login; graphql-ws waits 1.3-4 s before its first retry.
  await eventually(() => sent.length === 2, 20_000, 'a second token sent');
  expect(closes[0]).toEqual([4403, 'TOKEN_EXPIRED']);
  expect(sent).toHaveLength(2);
  expect(claimsOf(sent[1]).exp * 1000).toBeGreaterThan(Date.now());

  await eventually(async () => (await metricValue(server, 'tenantry_ws_subscriptions')) === 1, 10_000, 'resubscribed');
  const after = await signUp(server, 'after-expiry');
  expect(await readyEvent(after.tenantId)).toBe(true);
  expect(sub.completed).toBe(false);
  expect(sub.failure).toBeUndefined();
}, 60_000);
