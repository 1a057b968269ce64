/**
 * The crash an Idempotency-Key exists for: a server process killed (SIGKILL) after an order's
 * transaction committed and before its answer left, so the client saw its connection reset. The
 * client retries against another server process with the same key and request.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { type ChildApp, createPrivateTestDatabase, spawnApp } from '../jobs/helpers.js';
import { createCustomer, createProduct, readyTenant } from '../support/fixtures.js';

let db: Awaited<ReturnType<typeof createPrivateTestDatabase>>;
const apps: ChildApp[] = [];

beforeAll(async () => {
  db = await createPrivateTestDatabase();
}, 60_000);
afterAll(async () => {
  for (const app of apps) await app.stop('SIGKILL');
  await db?.destroy();
});

const PLACE_ORDER = `mutation PlaceOrder($i: OrderInput!) { createOrder(input: $i) { id number totalCents } }`;

/** POST over node:http, so a reset connection surfaces as its error code. */
function post(url: string, body: string, headers: Record<string, string>): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('killed between the commit and the answer, the retry on a new server gets the committed order’s answer replayed, and there is one order', async () => {
  const doomed = await spawnApp('server', db, { TENANTRY_TEST_KILL_AFTER_COMMIT: 'PlaceOrder' });
  apps.push(doomed);
  const shop = await readyTenant(doomed, 'crash-shop');
  const customerId = await createCustomer(doomed, { token: shop.token }, 'Ada');
  const productId = await createProduct(doomed, { token: shop.token }, 'P-1', 250);
  const body = JSON.stringify({ query: PLACE_ORDER, variables: { i: { customerId, lines: [{ productId, quantity: 1 }] } } });
  const headers = { authorization: `Bearer ${shop.token}`, 'idempotency-key': randomUUID() };
  const orders = async () => (await db.owner.query(`select id, number from "order" where tenant_id = $1`, [shop.tenantId])).rows;

  await expect(post(doomed.url, body, headers)).rejects.toMatchObject({ code: 'ECONNRESET' });
  await doomed.stop();
  expect(doomed.proc.signalCode).toBe('SIGKILL');
  const committed = await orders();
  expect(committed).toHaveLength(1); // the order was committed: the client just never heard of it

  const next = await spawnApp('server', db);
  apps.push(next);
  const retry = await post(next.url, body, headers);
  expect([retry.status, retry.headers['idempotent-replayed']]).toEqual([200, 'true']);
  expect(JSON.parse(retry.text)).toEqual({ data: { createOrder: { id: committed[0].id, number: committed[0].number, totalCents: 250 } } });
  expect(await orders()).toEqual(committed);
}, 90_000);
