import { createCustomer, createOrder, createProduct, readyTenant, type SignedUp } from '../support/fixtures.js';
import { codeOf, gql, startTestServer, type TestServer } from '../support/server.js';

let server: TestServer;
let t: SignedUp;
const opts = () => ({ token: t.token });

beforeAll(async () => {
  server = await startTestServer();
  t = await readyTenant(server, 'shop');
});
afterAll(() => server.close());

const PRODUCTS = `query($first: Int, $after: String, $search: String) {
  products(first: $first, after: $after, search: $search) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { sku name priceCents } } } }`;

describe('products', () => {
  beforeAll(async () => {
    for (const sku of ['C-3', 'A-1', 'B-2', 'E-5', 'D-4']) await createProduct(server, opts(), sku, 100);
  });

  test('are ordered by sku and paged with opaque cursors', async () => {
    const p1 = await gql(server, PRODUCTS, { first: 2 }, opts());
    expect(p1.body.data.products.edges.map((e: any) => e.node.sku)).toEqual(['A-1', 'B-2']);
    expect(p1.body.data.products.pageInfo.hasNextPage).toBe(true);
    expect(p1.body.data.products.totalCount).toBe(5);
    const p2 = await gql(server, PRODUCTS, { first: 2, after: p1.body.data.products.pageInfo.endCursor }, opts());
    expect(p2.body.data.products.edges.map((e: any) => e.node.sku)).toEqual(['C-3', 'D-4']);
    const p3 = await gql(server, PRODUCTS, { first: 2, after: p2.body.data.products.pageInfo.endCursor }, opts());
    expect(p3.body.data.products.edges.map((e: any) => e.node.sku)).toEqual(['E-5']);
    expect(p3.body.data.products.pageInfo.hasNextPage).toBe(false);
  });

  test('a cursor stays valid while rows are added before it', async () => {
    const p1 = await gql(server, PRODUCTS, { first: 2 }, opts());
    await createProduct(server, opts(), '0-NEW', 1);
    const p2 = await gql(server, PRODUCTS, { first: 1, after: p1.body.data.products.pageInfo.endCursor }, opts());
    expect(p2.body.data.products.edges[0].node.sku).toBe('C-3');
  });

  test('search is a case-insensitive substring of sku or name, wildcards taken literally', async () => {
    const bySku = await gql(server, PRODUCTS, { search: 'b-2' }, opts());
    expect(bySku.body.data.products.edges.map((e: any) => e.node.sku)).toEqual(['B-2']);
    const byName = await gql(server, PRODUCTS, { search: 'PRODUCT D' }, opts());
    expect(byName.body.data.products.edges.map((e: any) => e.node.sku)).toEqual(['D-4']);
    const wildcard = await gql(server, PRODUCTS, { search: '%' }, opts());
    expect(wildcard.body.data.products.totalCount).toBe(0);
  });

  test.each([[0], [101]])('first = %i is BAD_USER_INPUT on first', async (first) => {
    const r = await gql(server, PRODUCTS, { first }, opts());
    expect(codeOf(r)).toBe('BAD_USER_INPUT');
    expect(r.body.errors![0].extensions.field).toBe('first');
    expect(r.status).toBe(400);
  });

  test('a cursor we did not issue is BAD_USER_INPUT', async () => {
    const r = await gql(server, PRODUCTS, { after: 'bm90LWEtY3Vyc29y' }, opts());
    expect(codeOf(r)).toBe('BAD_USER_INPUT');
  });

  test.each([
    [{ sku: 'bad sku!', name: 'x', priceCents: 1 }, 'sku'],
    [{ sku: 'x'.repeat(65), name: 'x', priceCents: 1 }, 'sku'],
    [{ sku: 'OK-1', name: '', priceCents: 1 }, 'name'],
    [{ sku: 'OK-1', name: 'x'.repeat(201), priceCents: 1 }, 'name'],
    [{ sku: 'OK-1', name: 'x', priceCents: -1 }, 'priceCents'],
  ])('createProduct(%j) is BAD_USER_INPUT on %s and writes nothing', async (input, field) => {
    const before = await server.db.owner.query('select count(*)::int n from product');
    const r = await gql(server, `mutation($i: ProductInput!) { createProduct(input: $i) { id } }`, { i: input }, opts());
    expect(codeOf(r)).toBe('BAD_USER_INPUT');
    expect(r.body.errors![0].extensions.field).toBe(field);
    expect((await server.db.owner.query('select count(*)::int n from product')).rows).toEqual(before.rows);
  });

  test('a duplicate sku is CONFLICT (409)', async () => {
    const r = await gql(server, `mutation { createProduct(input: {sku: "A-1", name: "again", priceCents: 1}) { id } }`, {}, opts());
    expect(codeOf(r)).toBe('CONFLICT');
    expect(r.status).toBe(409);
  });

  test('updateProduct changes only the patched fields; renaming onto a taken sku is CONFLICT', async () => {
    const id = await createProduct(server, opts(), 'U-1', 700);
    const r = await gql(server, `mutation($id: ID!) { updateProduct(id: $id, patch: { name: "Renamed" }) { sku name priceCents } }`, { id }, opts());
    expect(r.body.data.updateProduct).toEqual({ sku: 'U-1', name: 'Renamed', priceCents: 700 });
    const clash = await gql(server, `mutation($id: ID!) { updateProduct(id: $id, patch: { sku: "A-1" }) { sku } }`, { id }, opts());
    expect(codeOf(clash)).toBe('CONFLICT');
  });

  test('deleteProduct is CONFLICT while an order line uses it, true otherwise', async () => {
    const used = await createProduct(server, opts(), 'DEL-USED', 5);
    const unused = await createProduct(server, opts(), 'DEL-FREE', 5);
    const customer = await createCustomer(server, opts(), 'Deleter');
    await createOrder(server, opts(), customer, [{ productId: used, quantity: 1 }]);
    const r1 = await gql(server, `mutation($id: ID!) { deleteProduct(id: $id) }`, { id: used }, opts());
    expect(codeOf(r1)).toBe('CONFLICT');
    const r2 = await gql(server, `mutation($id: ID!) { deleteProduct(id: $id) }`, { id: unused }, opts());
    expect(r2.body.data.deleteProduct).toBe(true);
    const r3 = await gql(server, `{ product(id: "${unused}") { id } }`, {}, opts());
    expect(r3.body.data.product).toBeNull();
  });
});

describe('customers', () => {
  test('are ordered by name (ties by id) and searchable by name or email', async () => {
    await createCustomer(server, opts(), 'Zoe', 'zoe@example.com');
    await createCustomer(server, opts(), 'Adam', 'adam@example.com');
    await createCustomer(server, opts(), 'Adam', 'adam2@example.com');
    const r = await gql(server, `{ customers(first: 2) { pageInfo { endCursor } edges { node { name email } } } }`, {}, opts());
    expect(r.body.data.customers.edges.map((e: any) => e.node.name)).toEqual(['Adam', 'Adam']);
    const next = await gql(server, `query($a: String) { customers(first: 5, after: $a, search: "@example.com") { edges { node { name } } } }`, { a: r.body.data.customers.pageInfo.endCursor }, opts());
    expect(next.body.data.customers.edges.map((e: any) => e.node.name)).toEqual(['Zoe']);
    const byEmail = await gql(server, `{ customers(search: "ADAM2@") { totalCount } }`, {}, opts());
    expect(byEmail.body.data.customers.totalCount).toBe(1);
  });

  test('an invalid email is BAD_USER_INPUT on email', async () => {
    const r = await gql(server, `mutation { createCustomer(input: {name: "X", email: "not-an-email"}) { id } }`, {}, opts());
    expect(codeOf(r)).toBe('BAD_USER_INPUT');
    expect(r.body.errors![0].extensions.field).toBe('email');
  });
});

describe('orders', () => {
  test('copy unit prices and compute the total; later price changes do not touch them', async () => {
    const p = await createProduct(server, opts(), 'ORD-P', 250);
    const c = await createCustomer(server, opts(), 'Buyer');
    const order = await createOrder(server, opts(), c, [{ productId: p, quantity: 3 }]);
    expect(order.totalCents).toBe(750);
    await gql(server, `mutation($id: ID!) { updateProduct(id: $id, patch: { priceCents: 999 }) { id } }`, { id: p }, opts());
    const r = await gql(server, `query($id: ID!) { order(id: $id) { totalCents status lines { unitPriceCents quantity } customer { name } } }`, { id: order.id }, opts());
    expect(r.body.data.order).toEqual({ totalCents: 750, status: 'OPEN', lines: [{ unitPriceCents: 250, quantity: 3 }], customer: { name: 'Buyer' } });
  });

  test('of 1,000 lines keep every line with its quantity and unit price (written in several flushes)', async () => {
    const [cheap, dear] = [await createProduct(server, opts(), 'BULK-1', 3), await createProduct(server, opts(), 'BULK-2', 7)];
    const c = await createCustomer(server, opts(), 'Bulk');
    const lines = Array.from({ length: 1000 }, (_, i) => ({ productId: i % 2 ? dear : cheap, quantity: (i % 5) + 1 }));
    const total = lines.reduce((sum, l) => sum + l.quantity * (l.productId === dear ? 7 : 3), 0);
    const r = await gql(server, `mutation($i: OrderInput!) { createOrder(input: $i) { id totalCents lines { quantity unitPriceCents } } }`, { i: { customerId: c, lines } }, opts());
    const order = r.body.data.createOrder;
    expect(order.totalCents).toBe(total);
    expect(order.lines).toHaveLength(1000);
    expect(order.lines.reduce((sum: number, l: { quantity: number; unitPriceCents: number }) => sum + l.quantity * l.unitPriceCents, 0)).toBe(total);
    const { rows } = await server.db.owner.query(`select count(*)::int as n, sum(quantity * unit_price_cents)::int as total, min(tenant_id::text) = max(tenant_id::text) as one_tenant from order_line where order_id = $1`, [order.id]);
    expect(rows[0]).toEqual({ n: 1000, total, one_tenant: true });
  });

  test.each([
    [[], 'lines'],
    [[{ quantity: 0 }], 'lines.0.quantity'],
    [[{ quantity: 10_001 }], 'lines.0.quantity'],
  ])('lines %j are BAD_USER_INPUT on %s', async (lines, field) => {
    const p = await createProduct(server, opts(), `Q-${Math.random().toString(36).slice(2, 10)}`, 1);
    const c = await createCustomer(server, opts(), 'Q');
    const r = await gql(server, `mutation($i: OrderInput!) { createOrder(input: $i) { id } }`, { i: { customerId: c, lines: lines.map((l) => ({ productId: p, ...l })) } }, opts());
    expect(codeOf(r)).toBe('BAD_USER_INPUT');
    expect(r.body.errors![0].extensions.field).toBe(field);
  });

  test('are listed newest number first, filtered by status, and setOrderStatus changes the status', async () => {
    const p = await createProduct(server, opts(), 'LIST-P', 10);
    const c = await createCustomer(server, opts(), 'Lister');
    const o1 = await createOrder(server, opts(), c, [{ productId: p, quantity: 1 }]);
    const o2 = await createOrder(server, opts(), c, [{ productId: p, quantity: 1 }]);
    const r = await gql(server, `{ orders(first: 2) { edges { node { number } } } }`, {}, opts());
    expect(r.body.data.orders.edges.map((e: any) => e.node.number)).toEqual([o2.number, o1.number]);
    await gql(server, `mutation($id: ID!) { setOrderStatus(id: $id, status: PAID) { status } }`, { id: o1.id }, opts());
    const paid = await gql(server, `{ orders(status: PAID) { totalCount edges { node { id status } } } }`, {}, opts());
    expect(paid.body.data.orders).toEqual({ totalCount: 1, edges: [{ node: { id: o1.id, status: 'PAID' } }] });
    const nested = await gql(server, `query($id: ID!) { customer(id: $id) { orders(first: 1) { totalCount pageInfo { hasNextPage } edges { node { number } } } } }`, { id: c }, opts());
    expect(nested.body.data.customer.orders).toEqual({ totalCount: 2, pageInfo: { hasNextPage: true }, edges: [{ node: { number: o2.number } }] });
  });
});

test('50 concurrent createOrder calls in one fresh tenant are numbered exactly 1..50', async () => {
  const fresh = await readyTenant(server, 'rush');
  const o = { token: fresh.token };
  const p = await createProduct(server, o, 'RUSH', 1);
  const c = await createCustomer(server, o, 'Rusher');
  const orders = await Promise.all(Array.from({ length: 50 }, () => createOrder(server, o, c, [{ productId: p, quantity: 1 }])));
  expect(orders.map((x) => x.number).sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
});
