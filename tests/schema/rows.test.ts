import type { EntityClass } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { Customer, Order, OrderLine, Product } from '../../src/entities/index.js';
import { inTenant } from '../../src/filters/inTenant.js';
import { anyId, findRows, type FindRowsOptions, type SqlCondition } from '../../src/schema/rows.js';
import { createCustomer, createOrder, createProduct, readyTenant, type SignedUp } from '../support/fixtures.js';
import { startTestServer, type TestServer } from '../support/server.js';

// findRows reads through a statement template compiled once per process (src/schema/statementTemplates.ts).
// The statement it sends must be, byte for byte, the one MikroORM's QueryBuilder builds with the tenant
// filter applied (`qb.applyFilters()`), for every tenant that reuses the template. Reads issued together
// travel as one message (src/schema/readBatch.ts).

const logged: string[] = [];
let server: TestServer;
const tenants: { signedUp: SignedUp; customer: string; product: string; order: string }[] = [];

beforeAll(async () => {
  server = await startTestServer({ orm: { debug: ['query', 'query-params'], logger: (message: string) => logged.push(message) } });
  for (const slug of ['rows-a', 'rows-b']) {
    const signedUp = await readyTenant(server, slug);
    const opts = { token: signedUp.token };
    const product = await createProduct(server, opts, `SKU-${slug}`, 250);
    const customer = await createCustomer(server, opts, `Customer ${slug}`);
    const order = await createOrder(server, opts, customer, [{ productId: product, quantity: 2 }]);
    tenants.push({ signedUp, customer, product, order: order.id });
  }
}, 60_000);
afterAll(() => server.close());

// eslint-disable-next-line no-control-regex
const statementOf = (message: string) => message.replace(/\u001b\[\d+m/g, '').replace(/^\[query\] /, '').replace(/ \[took \d+ ms.*$/, '');

/** What findRows sent, and what the QueryBuilder with `applyFilters()` builds for the same read. */
async function bothWays<T extends object>(tenantId: string, entity: EntityClass<T>, columns: readonly string[], where: SqlCondition, options: FindRowsOptions<T> = {}) {
  return inTenant(server.orm, tenantId, async (em: EntityManager) => {
    logged.length = 0;
    const rows = await findRows(em, entity, where, { ...options, fields: new Set(columns) });
    const sent = logged.map(statementOf).filter((s) => !/^(start transaction|begin|commit|select set_config)/.test(s));
    const qb = em.createQueryBuilder(entity).select(columns as never).where(where.sql, [...where.params]);
    if (options.orderBy) qb.orderBy(options.orderBy as never);
    if (options.limit !== undefined) qb.limit(options.limit);
    await qb.applyFilters();
    return { rows, sent, built: qb.getFormattedQuery() };
  });
}

const reads = () => [
  ['customers by id (the customer loader)', Customer, ['id', 'name', 'email', 'createdAt'], (t: (typeof tenants)[number]) => anyId('id', [t.customer]), {}],
  ['products by id (the product loader)', Product, ['id', 'sku', 'name', 'priceCents', 'createdAt', 'updatedAt'], (t: (typeof tenants)[number]) => anyId('id', [t.product]), {}],
  ['lines by order (the lines loader)', OrderLine, ['id', 'order', 'product', 'quantity', 'unitPriceCents'], (t: (typeof tenants)[number]) => anyId('order_id', [t.order]), { orderBy: { id: 'asc' } }],
  ['a page of orders', Order, ['id', 'number', 'customer'], () => ({ sql: 'number < ?', params: [1000] }), { orderBy: { number: 'desc' }, limit: 21 }],
] as const;

test.each(reads().map((read) => [read[0], read] as const))('%s: the statement sent is the QueryBuilder’s with the filter applied, for each tenant in turn', async (_name, read) => {
  const [, entity, columns, where, options] = read;
  for (const t of [...tenants, tenants[0]]) {
    const { rows, sent, built } = await bothWays(t.signedUp.tenantId, entity as EntityClass<object>, columns, where(t), options as FindRowsOptions<object>);
    expect(sent).toEqual([built]);
    expect(built).toContain(`"tenant_id" = '${t.signedUp.tenantId}'`);
    expect(rows).toHaveLength(1);
  }
});

test('a template compiled in one tenant reads only the next tenant’s rows', async () => {
  const [a, b] = tenants;
  await bothWays(a.signedUp.tenantId, Customer, ['id', 'name'], anyId('id', [a.customer, b.customer]));
  const { rows } = await bothWays(b.signedUp.tenantId, Customer, ['id', 'name'], anyId('id', [a.customer, b.customer]));
  expect(rows).toEqual([{ id: b.customer, name: 'Customer rows-b' }]);
});

test('two reads issued together travel as one message, each answered with its own rows', async () => {
  const [a] = tenants;
  const { customers, products, sent } = await inTenant(server.orm, a.signedUp.tenantId, async (em: EntityManager) => {
    logged.length = 0;
    const [customers, products] = await Promise.all([findRows(em, Customer, anyId('id', [a.customer])), findRows(em, Product, anyId('id', [a.product]))]);
    return { customers, products, sent: logged.map(statementOf).filter((s) => /from "(customer|product)"/.test(s)) };
  });
  expect(sent).toHaveLength(1);
  expect(sent[0]).toMatch(/^\/\* tenantry:batch:2 \*\/ select .* from "customer" .*; select .* from "product" /);
  expect(customers.map((c) => c.id)).toEqual([a.customer]);
  expect(products.map((p) => [p.id, p.priceCents])).toEqual([[a.product, 250]]);
});

test('when one read of a message fails, every read in it fails with that error', async () => {
  const [a] = tenants;
  const settled = await inTenant(server.orm, a.signedUp.tenantId, (em: EntityManager) =>
    Promise.allSettled([findRows(em, Customer, { sql: 'no_such_column = ?', params: [1] }), findRows(em, Product, anyId('id', [a.product]))]),
  );
  expect(settled.map((s) => s.status)).toEqual(['rejected', 'rejected']);
  for (const s of settled) expect(String((s as PromiseRejectedResult).reason)).toMatch(/no_such_column/);
});
