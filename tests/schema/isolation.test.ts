import { createCustomer, createOrder, createProduct, readyTenant, type SignedUp } from '../support/fixtures.js';
import { codeOf, gql, startTestServer, type TestServer, wsClient, wsRequest } from '../support/server.js';

// Tenant A's token against tenant B's records: by id, in lists, nested, and in every mutation.
// A foreign record must be indistinguishable from a missing one, and B's rows must stay untouched.

let server: TestServer;
let a: SignedUp;
let b: SignedUp;
const bIds = { product: '', customer: '', order: '' };
const aIds = { product: '', customer: '', order: '' };

beforeAll(async () => {
  server = await startTestServer();
  [a, b] = await Promise.all([readyTenant(server, 'iso-a'), readyTenant(server, 'iso-b')]);
  for (const [t, ids] of [[a, aIds], [b, bIds]] as const) {
    ids.product = await createProduct(server, { token: t.token }, `SKU-${t.slug}`, 500);
    ids.customer = await createCustomer(server, { token: t.token }, `Customer of ${t.slug}`, `c@${t.slug}.example.com`);
    ids.order = (await createOrder(server, { token: t.token }, ids.customer, [{ productId: ids.product, quantity: 2 }])).id;
  }
});
afterAll(() => server.close());

const asA = () => ({ token: a.token });

async function bRowsSnapshot() {
  const { rows } = await server.db.owner.query(
    `select 'product' t, id, name as v from product where tenant_id = $1
     union all select 'customer', id, name from customer where tenant_id = $1
     union all select 'order', id, status::text from "order" where tenant_id = $1
     union all select 'line', id, quantity::text from order_line where tenant_id = $1 order by 1, 2`,
    [b.tenantId],
  );
  return rows;
}

describe.each([
  ['product', `query($id: ID!) { product(id: $id) { id sku } }`],
  ['customer', `query($id: ID!) { customer(id: $id) { id name } }`],
  ['order', `query($id: ID!) { order(id: $id) { id number } }`],
] as const)('reading tenant B’s %s by id with tenant A’s token', (kind, query) => {
  test('returns null over HTTP, like a missing record', async () => {
    const r = await gql(server, query, { id: bIds[kind] }, asA());
    expect(r.body.errors).toBeUndefined();
    expect(r.body.data[kind]).toBeNull();
  });

  test('returns null over WebSocket', async () => {
    const client = wsClient(server, { token: a.token });
    try {
      const r = await wsRequest(client, query, { id: bIds[kind] });
      expect(r.errors).toBeUndefined();
      expect(r.data![kind]).toBeNull();
    } finally {
      await client.dispose();
    }
  });

  test('its own record with the same query is found (the query itself works)', async () => {
    const r = await gql(server, query, { id: aIds[kind] }, asA());
    expect(r.body.data[kind].id).toBe(aIds[kind]);
  });
});

test('lists hold only the own tenant’s rows', async () => {
  const r = await gql(
    server,
    `{ products { totalCount edges { node { id } } } customers { totalCount edges { node { id } } } orders { totalCount edges { node { id } } } }`,
    {},
    asA(),
  );
  expect(r.body.data.products.edges.map((e: any) => e.node.id)).toEqual([aIds.product]);
  expect(r.body.data.customers.edges.map((e: any) => e.node.id)).toEqual([aIds.customer]);
  expect(r.body.data.orders.edges.map((e: any) => e.node.id)).toEqual([aIds.order]);
  expect([r.body.data.products.totalCount, r.body.data.customers.totalCount, r.body.data.orders.totalCount]).toEqual([1, 1, 1]);
});

test('a search matching only the other tenant’s sku finds nothing', async () => {
  const r = await gql(server, `{ products(search: "iso-b") { totalCount edges { node { id } } } }`, {}, asA());
  expect(r.body.data.products).toEqual({ totalCount: 0, edges: [] });
});

test('nested relations stay inside the tenant', async () => {
  const r = await gql(
    server,
    `query($id: ID!) { customer(id: $id) { orders { totalCount edges { node { id customer { id } lines { product { id } } } } } } }`,
    { id: aIds.customer },
    asA(),
  );
  expect(r.body.errors).toBeUndefined();
  const orders = r.body.data.customer.orders;
  expect(orders.totalCount).toBe(1);
  expect(orders.edges[0].node.customer.id).toBe(aIds.customer);
  expect(orders.edges[0].node.lines[0].product.id).toBe(aIds.product);
});

describe('mutations on tenant B’s records with tenant A’s token', () => {
  test.each([
    ['updateProduct', `mutation($id: ID!) { updateProduct(id: $id, patch: { name: "stolen" }) { id } }`, () => ({ id: bIds.product })],
    ['deleteProduct', `mutation($id: ID!) { deleteProduct(id: $id) }`, () => ({ id: bIds.product })],
    ['setOrderStatus', `mutation($id: ID!) { setOrderStatus(id: $id, status: CANCELLED) { id } }`, () => ({ id: bIds.order })],
  ])('%s answers NOT_FOUND and changes nothing', async (_name, mutation, vars) => {
    const before = await bRowsSnapshot();
    const r = await gql(server, mutation, vars(), asA());
    expect(codeOf(r)).toBe('NOT_FOUND');
    expect(r.status).toBe(404);
    expect(await bRowsSnapshot()).toEqual(before);
  });

  test('createOrder for B’s customer is NOT_FOUND', async () => {
    const before = await bRowsSnapshot();
    const r = await gql(server, `mutation($i: OrderInput!) { createOrder(input: $i) { id } }`, { i: { customerId: bIds.customer, lines: [{ productId: aIds.product, quantity: 1 }] } }, asA());
    expect(codeOf(r)).toBe('NOT_FOUND');
    expect(await bRowsSnapshot()).toEqual(before);
  });

  test('createOrder with B’s product is refused and writes nothing, not even an order number', async () => {
    const r = await gql(server, `mutation($i: OrderInput!) { createOrder(input: $i) { id } }`, { i: { customerId: aIds.customer, lines: [{ productId: bIds.product, quantity: 1 }] } }, asA());
    expect(codeOf(r)).toBe('BAD_USER_INPUT');
    expect(r.body.errors![0].extensions.field).toBe('lines.0.productId');
    const { rows } = await server.db.owner.query('select count(*)::int n from "order" where tenant_id = $1', [a.tenantId]);
    expect(rows[0].n).toBe(1);
    const next = await createOrder(server, asA(), aIds.customer, [{ productId: aIds.product, quantity: 1 }]);
    expect(next.number).toBe(2); // the refused order did not burn number 2
  });
});

test('a malformed id is BAD_USER_INPUT, not NOT_FOUND', async () => {
  const r = await gql(server, `{ product(id: "not-a-uuid") { id } }`, {}, asA());
  expect(codeOf(r)).toBe('BAD_USER_INPUT');
  expect(r.status).toBe(400);
});

test('rows created through GraphQL carry their tenant at the database', async () => {
  const { rows } = await server.db.owner.query('select tenant_id, count(*)::int n from product group by tenant_id order by tenant_id');
  expect(rows).toEqual(expect.arrayContaining([{ tenant_id: a.tenantId, n: expect.any(Number) }, { tenant_id: b.tenantId, n: 1 }]));
});
