import { createCustomer, createOrder, createProduct, readyTenant, type SignedUp, superadminToken } from '../support/fixtures.js';
import { gql, startTestServer, type TestServer } from '../support/server.js';

let server: TestServer;
let t: SignedUp;
let root: string;
let customerId: string;
beforeAll(async () => {
  server = await startTestServer();
  [t] = await Promise.all([readyTenant(server, 'pages-a'), readyTenant(server, 'pages-b'), readyTenant(server, 'pages-c')]);
  root = await superadminToken(server);
  const productId = await createProduct(server, { token: t.token }, 'P-1');
  for (const sku of ['P-2', 'P-3']) await createProduct(server, { token: t.token }, sku);
  customerId = await createCustomer(server, { token: t.token }, 'Ada');
  for (const name of ['Bob', 'Cy']) await createCustomer(server, { token: t.token }, name);
  for (let i = 0; i < 3; i++) await createOrder(server, { token: t.token }, customerId, [{ productId, quantity: 1 }]);
});
afterAll(() => server.close());

const PAGE_INFO = 'pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor }';

/** Every connection of the schema: a query taking `$after`, who may run it, and where its connection is. */
const CONNECTIONS: Record<string, { query: string; token: () => string; at: (data: any) => any }> = {
  products: { query: `query($after: String) { products(first: 2, after: $after) { ${PAGE_INFO} } }`, token: () => t.token, at: (d) => d.products },
  customers: { query: `query($after: String) { customers(first: 2, after: $after) { ${PAGE_INFO} } }`, token: () => t.token, at: (d) => d.customers },
  orders: { query: `query($after: String) { orders(first: 2, after: $after) { ${PAGE_INFO} } }`, token: () => t.token, at: (d) => d.orders },
  'Customer.orders': {
    query: `query($id: ID!, $after: String) { customer(id: $id) { orders(first: 2, after: $after) { ${PAGE_INFO} } } }`,
    token: () => t.token,
    at: (d) => d.customer.orders,
  },
  tenants: { query: `query($after: String) { tenants(first: 2, after: $after) { ${PAGE_INFO} } }`, token: () => root, at: (d) => d.tenants },
  auditEvents: { query: `query($after: String) { auditEvents(first: 2, after: $after) { ${PAGE_INFO} } }`, token: () => root, at: (d) => d.auditEvents },
};

async function page(name: string, after?: string) {
  const { query, token, at } = CONNECTIONS[name];
  const r = await gql(server, query, { id: customerId, after }, { token: token() });
  expect(r.body.errors).toBeUndefined();
  return at(r.body.data);
}

test.each(Object.keys(CONNECTIONS))('%s: the first page has no previous page; startCursor and endCursor are its first and last edges’ cursors', async (name) => {
  const first = await page(name);
  expect(first.edges).toHaveLength(2);
  expect(first.pageInfo).toEqual({ hasNextPage: true, hasPreviousPage: false, startCursor: first.edges[0].cursor, endCursor: first.edges[1].cursor });
});

test.each(Object.keys(CONNECTIONS))('%s: a page after a cursor has a previous page; past the last row, both cursors are null', async (name) => {
  const first = await page(name);
  const second = await page(name, first.pageInfo.endCursor);
  expect(second.pageInfo).toMatchObject({ hasPreviousPage: true, startCursor: second.edges[0].cursor, endCursor: second.edges.at(-1).cursor });
  let last = second;
  while (last.pageInfo.hasNextPage) last = await page(name, last.pageInfo.endCursor);
  const beyond = await page(name, last.pageInfo.endCursor);
  expect(beyond).toEqual({ pageInfo: { hasNextPage: false, hasPreviousPage: true, startCursor: null, endCursor: null }, edges: [] });
});
