import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { makeLegacyFixture, splitRows } from '../../src/migrate/fixture.js';
import { tenantIdFor } from '../../src/migrate/ids.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { countsByTenant, createLegacyDatabase, type LegacyDatabase, migrate } from './support.js';

// tenant_shop_1's customer ids are text, tenant_shop_2's orders have no id column, tenant_shop_3 has a
// product without name (ids of tenant 3 are 1, 2, 3, …).
const ROWS = 40;
const split = splitRows(ROWS);
const reportFile = path.join(os.tmpdir(), `tenantry-plan-${process.pid}.jsonl`);

let db: TestDatabase;
let legacy: LegacyDatabase;

beforeAll(async () => {
  [db, legacy] = await Promise.all([createTestDatabase(), createLegacyDatabase()]);
  await makeLegacyFixture(legacy.url, { tenants: 3, rows: ROWS, weirdNames: false, replace: false });
  await legacy.pool.query(`
    alter table tenant_shop_1.customer alter column id type text;
    alter table tenant_shop_2."order" drop column id;
    alter table tenant_shop_3.product alter column name drop not null;
    update tenant_shop_3.product set name = null where id = 2;`);
});

afterAll(async () => {
  await db?.close();
  await legacy?.drop();
  await rm(reportFile, { force: true });
});

test('a dry run counts the rows of a table its problems block (ids not integers, no id column)', async () => {
  const summary = await migrate(db, legacy, { tenants: ['1', '2'], dryRun: true });
  const table = (schema: string, name: string) => summary.tenants.find((t) => t.schema === schema)!.tables.find((t) => t.table === name)!;
  const customer = table('tenant_shop_1', 'customer');
  expect(customer.problems.map((p) => [p.kind, p.column])).toEqual([['id-type', 'id']]);
  expect([customer.sourceRows, customer.toMove]).toEqual([split.customers, split.customers]);
  const order = table('tenant_shop_2', 'order');
  expect(order.problems.map((p) => [p.kind, p.column])).toEqual([['missing-column', 'id']]);
  expect([order.sourceRows, order.toMove]).toEqual([split.orders, split.orders]);
});

test('after --skip-orphans copied some tables, a plain run of the others stops on the rows that hang off the rows left out', async () => {
  const parents = await migrate(db, legacy, { tenants: ['3'], models: ['Product', 'Customer'], skipOrphans: true, reportPath: reportFile });
  expect(parents.tenants[0].result).toBe('partial');
  const { rows } = await legacy.pool.query(`select count(*)::int as n from tenant_shop_3.order_line where product_id = 2`);

  const children = await migrate(db, legacy, { tenants: ['3'], models: ['Order', 'OrderLine'] });
  expect(children.tenants[0].error).toMatch(
    new RegExp(`orphan order_line: ${rows[0].n} row\\(s\\) depend on rows an earlier --skip-orphans run left out: migrate with --skip-orphans`),
  );
  expect((await countsByTenant(db, 'order')).has(tenantIdFor('3'))).toBe(false);
});
