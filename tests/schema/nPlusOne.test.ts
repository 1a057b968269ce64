import { createCustomer, createOrder, createProduct, readyTenant, type SignedUp } from '../support/fixtures.js';
import { gql, startTestServer, type TestServer } from '../support/server.js';

// The page of orders with customer and lines with product costs a fixed number of SQL statements,
// whatever the page size: one per nesting level, thanks to the per-request DataLoaders.

const QUERY = `query($first: Int) { orders(first: $first) { edges { node { number customer { name } lines { quantity product { name } } } } } }`;
const queries: string[] = [];
let server: TestServer;
let tenant: SignedUp;

beforeAll(async () => {
  server = await startTestServer({ orm: { debug: ['query'], logger: (message: string) => queries.push(message) } });
  tenant = await readyTenant(server, 'nplus');
  const opts = { token: tenant.token };
  const products = await Promise.all([1, 2, 3].map((i) => createProduct(server, opts, `P-${i}`, 100 * i)));
  const customers = await Promise.all([1, 2, 3, 4, 5].map((i) => createCustomer(server, opts, `Customer ${i}`)));
  for (let i = 0; i < 100; i++) {
    await createOrder(server, opts, customers[i % customers.length], [
      { productId: products[i % 3], quantity: 1 },
      { productId: products[(i + 1) % 3], quantity: 2 },
    ]);
  }
}, 60_000);
afterAll(() => server.close());

/**
 * Statements that read data: all but transaction control. `begin` (a query's `start transaction read
 * only`) travels with the first statement and a query's `commit` with the connection's next message
 * (src/db/pgClient.ts); the first statement sets the tenant and reads the tenant's and the caller's state
 * in one round trip, and counts as one.
 */
const isDataStatement = (q: string) => !/^\[query\] (begin|start transaction|commit|rollback|savepoint|release savepoint)\b/i.test(q);
// eslint-disable-next-line no-control-regex
const plain = (q: string) => q.replace(/\u001b\[\d+m/g, '');

async function statementsFor(first: number): Promise<string[]> {
  const r0 = await gql(server, '{ __typename }', {}, { token: tenant.token }); // identify() warm-up is per request too
  expect(r0.status).toBe(200);
  queries.length = 0;
  const r = await gql(server, QUERY, { first }, { token: tenant.token });
  expect(r.body.errors).toBeUndefined();
  expect(r.body.data.orders.edges).toHaveLength(first);
  expect(r.body.data.orders.edges[0].node.lines[0].product.name).toMatch(/^Product P-/);
  return queries.map(plain).filter((q) => q.startsWith('[query]')).filter(isDataStatement);
}

/** Statements in a logged message: a batch of reads (src/db/pgClient.ts, `batchOf`) says how many it holds. */
const countOf = (messages: string[]) => messages.reduce((n, m) => n + Number(/\/\* tenantry:batch:(\d+) \*\//.exec(m)?.[1] ?? 1), 0);

test('100 orders with customers, lines and products take as many statements as 10', async () => {
  const ten = await statementsFor(10);
  const hundred = await statementsFor(100);
  expect(countOf(hundred)).toBe(countOf(ten));
});

test('the page takes at most 5 statements in all, the tenant and caller checks included', async () => {
  const statements = await statementsFor(100);
  expect(countOf(statements)).toBeLessThanOrEqual(5);
});

test('the customers and the lines of a page travel to Postgres in one message', async () => {
  const messages = await statementsFor(10);
  expect(messages).toHaveLength(4); // the opening, the orders, their customers and lines, the lines' products
  const batch = messages.find((m) => m.includes('from "customer"'))!;
  expect(batch).toMatch(/^\[query\] \/\* tenantry:batch:2 \*\/ /);
  expect(batch).toContain('from "order_line"');
});

async function statementsOf(query: string): Promise<string[]> {
  queries.length = 0;
  const r = await gql(server, query, {}, { token: tenant.token });
  expect(r.body.errors).toBeUndefined();
  expect(r.body.data.orders.edges).toHaveLength(5);
  return queries.map(plain).filter((q) => q.startsWith('[query]')).filter(isDataStatement);
}

// The orders resolver loads the relations the query selects before graphql-js walks the page
// (preloadRelations): what it does not select, it must not read.
test('a page whose query selects no relation reads the orders alone', async () => {
  const statements = await statementsOf('{ orders(first: 5) { edges { node { number } } } }');
  expect(statements).toHaveLength(2); // the opening read, the orders
  expect(statements.join('\n')).not.toMatch(/from "(customer|order_line|product)"/);
});

test('a page reads the lines but not their products when the query selects no product', async () => {
  const statements = await statementsOf('{ orders(first: 5) { edges { node { number lines { quantity } } } } }');
  expect(statements).toHaveLength(3);
  expect(statements.join('\n')).toMatch(/from "order_line"/);
  expect(statements.join('\n')).not.toMatch(/from "(customer|product)"/);
});

test('relations selected through fragments are loaded in the same batches', async () => {
  const statements = await statementsOf(
    '{ orders(first: 5) { edges { node { ...O } } } } fragment O on Order { customer { name } ... on Order { lines { product { name } } } }',
  );
  expect(countOf(statements)).toBe(5);
});
