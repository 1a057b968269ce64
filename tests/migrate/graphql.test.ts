import { makeLegacyFixture, splitRows } from '../../src/migrate/fixture.js';
import { rowIdFor, tenantIdFor } from '../../src/migrate/ids.js';
import { createProduct, superadminToken } from '../support/fixtures.js';
import { eventually } from '../support/eventually.js';
import { codeOf, gql, metricValue, startTestServer, type TestServer, wsClient, wsSubscribe } from '../support/server.js';
import { createLegacyDatabase, type LegacyDatabase, migrate } from './support.js';

// Migrated tenants served by the real API: each sees its own legacy data and nothing of the others,
// addressed by slug or by its new primary domain, and its order numbers continue after the legacy ones.

const ROWS = 40;
const split = splitRows(ROWS);
let server: TestServer;
let legacy: LegacyDatabase;
let root: string;
const slugOf = new Map<string, string>();

beforeAll(async () => {
  server = await startTestServer();
  legacy = await createLegacyDatabase();
  await makeLegacyFixture(legacy.url, { tenants: 3, rows: ROWS, weirdNames: false, replace: false });
  const summary = await migrate(server.db, legacy, {});
  expect(summary.ok).toBe(true);
  for (const t of summary.tenants) slugOf.set(t.schema, t.slug!);
  root = await superadminToken(server);
}, 60_000);
afterAll(async () => {
  await server?.close();
  await legacy?.drop();
});

const PRODUCTS = '{ products(first: 100) { totalCount edges { node { id sku } } } }';

test('each migrated tenant lists exactly its own legacy rows through GraphQL', async () => {
  for (const registryId of ['1', '2', '3']) {
    const tenantId = tenantIdFor(registryId);
    const r = await gql(server, PRODUCTS, {}, { token: root, tenant: tenantId });
    expect(r.body.errors).toBeUndefined();
    expect(r.body.data.products.totalCount).toBe(split.products);
    const { rows } = await legacy.pool.query(`select id from tenant_shop_${registryId}.product order by id`);
    const ids = new Set(r.body.data.products.edges.map((e: any) => e.node.id));
    expect(ids).toEqual(new Set(rows.map((row: { id: number }) => rowIdFor(tenantId, 'product', row.id))));
  }
});

test('a migrated tenant reads another migrated tenant’s record by id as null', async () => {
  const { rows } = await legacy.pool.query(`select min(id)::int as id from tenant_shop_2.product`);
  const foreign = rowIdFor(tenantIdFor('2'), 'product', rows[0].id);
  const own = await gql(server, `query($id: ID!) { product(id: $id) { id } }`, { id: foreign }, { token: root, tenant: tenantIdFor('2') });
  expect(own.body.data.product.id).toBe(foreign);
  const r = await gql(server, `query($id: ID!) { product(id: $id) { id } }`, { id: foreign }, { token: root, tenant: tenantIdFor('1') });
  expect(r.body.errors).toBeUndefined();
  expect(r.body.data.product).toBeNull();
});

test('a migrated tenant answers on its new primary domain, with nested orders intact', async () => {
  const slug = slugOf.get('tenant_shop_2')!;
  const r = await gql(server, '{ orders(first: 5) { totalCount edges { node { number customer { name } lines { product { sku } } } } } }', {}, { token: root, host: `${slug}.tenantry.test` });
  expect(r.body.errors).toBeUndefined();
  expect(r.body.data.orders.totalCount).toBe(split.orders);
  expect(r.body.data.orders.edges[0].node.customer.name).toBeTruthy();
});

test('new orders continue numbering after the highest legacy order number', async () => {
  const tenant = { token: root, tenant: tenantIdFor('3') };
  const { rows } = await legacy.pool.query(`select max("number")::int as n from tenant_shop_3."order"`);
  const customer = (await gql(server, '{ customers(first: 1) { edges { node { id } } } }', {}, tenant)).body.data.customers.edges[0].node.id;
  const productId = await createProduct(server, tenant, 'AFTER-MIGRATION', 100);
  const created = await gql(server, `mutation($i: OrderInput!) { createOrder(input: $i) { number } }`, { i: { customerId: customer, lines: [{ productId, quantity: 1 }] } }, tenant);
  expect(codeOf(created)).toBeUndefined();
  expect(created.body.data.createOrder.number).toBe(rows[0].n + 1);
});

test('a superadmin watching every tenant hears a migrated tenant become READY', async () => {
  const client = wsClient(server, { token: root });
  try {
    const sub = wsSubscribe(client, 'subscription { tenantStatusChanged { tenantId status } }');
    // The stream of every tenant has no first event: migrate only once the server holds the subscription.
    await eventually(async () => (await metricValue(server, 'tenantry_ws_subscriptions')) === 1, 10_000, 'the subscription held');
    await makeLegacyFixture(legacy.url, { tenants: 4, rows: ROWS, weirdNames: false, replace: true });
    await migrate(server.db, legacy, { tenants: ['tenant_shop_4'] });
    const fourth = tenantIdFor('4');
    await eventually(() => sub.results.some((r) => r.data?.tenantStatusChanged.tenantId === fourth && r.data.tenantStatusChanged.status === 'READY'));
    sub.unsubscribe();
  } finally {
    await client.dispose();
  }
});
