import { pino } from 'pino';
import { Writable } from 'node:stream';
import { signUp, type SignedUp } from '../support/fixtures.js';
import { request, startTestServer, type TestServer, wsClient, wsRequest } from '../support/server.js';

/** The server's log lines, as JSON objects. */
const lines: Record<string, unknown>[] = [];
const sink = new Writable({
  write(chunk, _encoding, done) {
    lines.push(...String(chunk).split('\n').filter(Boolean).map((line) => JSON.parse(line)));
    done();
  },
});

let server: TestServer;
let acme: SignedUp;
beforeAll(async () => {
  server = await startTestServer({ log: pino({ level: 'info' }, sink) });
  acme = await signUp(server, 'acme');
});
afterAll(() => server.close());

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const operationLines = (requestId: unknown) => lines.filter((l) => l.msg === 'graphql operation' && l.requestId === requestId);

async function post(query: string, headers: Record<string, string> = {}) {
  const res = await fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${acme.token}`, ...headers }, body: JSON.stringify({ query }) });
  await res.text();
  return res.headers.get('x-request-id');
}

test("a client's x-request-id is echoed and names the operation's log line", async () => {
  const id = 'web-7f3a.2026-11-30:42';
  expect(await post('query Named { me { id } }', { 'x-request-id': id })).toBe(id);
  expect(operationLines(id)).toEqual([expect.objectContaining({ operation: 'Named', tenantId: acme.tenantId, userId: acme.userId, transport: 'http' })]);
});

test('without x-request-id the response carries a generated id, the one its log line has', async () => {
  const id = await post('query Generated { me { id } }');
  expect(id).toMatch(UUID);
  expect(operationLines(id)).toEqual([expect.objectContaining({ operation: 'Generated' })]);
});

test.each([
  ['is longer than 128 characters', 'a'.repeat(129)],
  ['holds a space', 'two words'],
  ['holds characters outside [A-Za-z0-9._:-]', 'id<script>'],
  ['is empty', ''],
])('an x-request-id that %s is replaced by a generated one', async (_what, given) => {
  const id = await post('{ __typename }', { 'x-request-id': given });
  expect(id).toMatch(UUID);
  expect(lines.some((l) => l.requestId === given)).toBe(false);
});

test('a 128-character x-request-id is kept', async () => {
  const id = 'x'.repeat(128);
  expect(await post('{ __typename }', { 'x-request-id': id })).toBe(id);
});

test('a body that is not JSON is answered with a request id too', async () => {
  const res = await fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': 'bad-body-1' }, body: '{nope' });
  expect([res.status, res.headers.get('x-request-id')]).toEqual([400, 'bad-body-1']);
});

test('a refusal by the rate limit carries the request id in header and log', async () => {
  const limited = await startTestServer({ db: server.db, env: { RATE_LIMIT_PER_MINUTE: '1' }, log: pino({ level: 'info' }, sink) });
  try {
    await request(limited.url, '{"query":"{ __typename }"}', { 'content-type': 'application/json' });
    const res = await fetch(limited.url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': 'limited-1' }, body: '{"query":"{ __typename }"}' });
    expect([res.status, res.headers.get('x-request-id')]).toEqual([429, 'limited-1']);
    expect(operationLines('limited-1')).toEqual([expect.objectContaining({ outcome: 'RATE_LIMITED' })]);
  } finally {
    await limited.close();
  }
});

test('each WebSocket operation is logged under an id of its own', async () => {
  const client = wsClient(server, { token: acme.token });
  try {
    await wsRequest(client, 'query OverSocket { me { id } }');
    await wsRequest(client, 'query OverSocket { me { id } }');
  } finally {
    await client.dispose();
  }
  const ids = lines.filter((l) => l.msg === 'graphql operation' && l.operation === 'OverSocket').map((l) => l.requestId);
  expect(ids).toHaveLength(2);
  expect(new Set(ids).size).toBe(2);
  for (const id of ids) expect(id).toMatch(UUID);
});
