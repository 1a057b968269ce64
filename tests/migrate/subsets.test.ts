import { UsageError } from '../../src/migrate/errors.js';
import { makeLegacyFixture, splitRows } from '../../src/migrate/fixture.js';
import { rowIdFor, tenantIdFor } from '../../src/migrate/ids.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { countsByTenant, createLegacyDatabase, type LegacyDatabase, migrate, runCli, targetState } from './support.js';

const ROWS = 40;
const split = splitRows(ROWS);

let db: TestDatabase;
let legacy: LegacyDatabase;

beforeAll(async () => {
  [db, legacy] = await Promise.all([createTestDatabase(), createLegacyDatabase()]);
  await makeLegacyFixture(legacy.url, { tenants: 5, rows: ROWS, weirdNames: false, replace: false });
});

afterAll(async () => {
  await db?.close();
  await legacy?.drop();
});

const status = async (legacyId: string) => (await db.owner.query(`select status from tenant where id = $1`, [tenantIdFor(legacyId)])).rows[0]?.status;

test('--tenant picks tenants by schema name or registry id, and only those', async () => {
  const summary = await migrate(db, legacy, { tenants: ['tenant_shop_2', '4'] });
  expect(summary.ok).toBe(true);
  expect(summary.tenants.map((t) => t.schema)).toEqual(['tenant_shop_2', 'tenant_shop_4']);
  const { rows } = await db.owner.query(`select id from tenant`);
  expect(rows.map((r) => r.id).sort()).toEqual([tenantIdFor('2'), tenantIdFor('4')].sort());
  expect([...(await countsByTenant(db, 'order_line')).keys()].sort()).toEqual([tenantIdFor('2'), tenantIdFor('4')].sort());
});

test('unknown tenants and models are usage errors', async () => {
  await expect(migrate(db, legacy, { tenants: ['nope'] })).rejects.toThrow(UsageError);
  await expect(migrate(db, legacy, { tenants: ['1'], models: ['Invoice'] })).rejects.toThrow(/Unknown model "Invoice"; one of: Product, Customer, Order, OrderLine/);
  await expect(migrate(db, legacy, { tenants: ['1'], models: ['OrderCounter'] })).rejects.toThrow(/computed from the migrated orders/);
});

test('a usage error found in the registry or the model prints the error alone (no progress line) and exits 2', async () => {
  const tenant = await runCli(db, ['migrate-schemas', '--tenant', 'nope', '--source', legacy.url]);
  const model = await runCli(db, ['migrate-schemas', '--all', '--model', 'Invoice', '--source', legacy.url]);
  expect(tenant).toMatchObject({ code: 2, stdout: '', stderr: 'No tenant in the legacy registry has schema or id "nope"\n' });
  expect(model).toMatchObject({ code: 2, stdout: '', stderr: 'Unknown model "Invoice"; one of: Product, Customer, Order, OrderLine\n' });
}, 20_000);

test('--model needs the parents of what it picks, picked or migrated before', async () => {
  const before = await targetState(db);
  const summary = await migrate(db, legacy, { tenants: ['tenant_shop_1'], models: ['OrderLine'] });
  expect(summary.ok).toBe(false);
  expect(summary.tenants[0].error).toMatch(/dependency order_line\.order_id: needs Order migrated first: add --model Order/);
  expect(await targetState(db)).toEqual(before);
});

test('--model copies only the picked tables; the tenant stays PREPARING until every table is in', async () => {
  const first = await migrate(db, legacy, { tenants: ['tenant_shop_1'], models: ['Product', 'customer'] });
  expect(first.ok).toBe(true);
  expect(first.tenants[0].result).toBe('partial');
  expect(first.rowsCopied).toBe(split.products + split.customers);
  expect(await status('1')).toBe('PREPARING');
  expect((await countsByTenant(db, 'order')).has(tenantIdFor('1'))).toBe(false);

  // Not migrated yet: verifying the missing tables fails.
  const verify = await migrate(db, legacy, { tenants: ['1'], verifyOnly: true });
  expect(verify.tenants[0].error).toBe('not migrated: order, order_line');

  const rest = await migrate(db, legacy, { tenants: ['tenant_shop_1'], models: ['Order', 'order_line'] });
  expect(rest.ok).toBe(true);
  expect(rest.rowsCopied).toBe(split.orders + split.lines);
  expect(rest.tenants[0].result).toBe('migrated');
  // All four tables were verified before the tenant went READY.
  expect(rest.tenants[0].tables.map((t) => [t.table, t.verification?.ok])).toEqual([
    ['product', true],
    ['customer', true],
    ['order', true],
    ['order_line', true],
  ]);
  expect(await status('1')).toBe('READY');
  expect((await db.owner.query(`select last_number from order_counter where tenant_id = $1`, [tenantIdFor('1')])).rows[0].last_number).toBe(split.orders);
});

test('a mismatch found by the verification after a real run fails the tenant (FAILED, not READY) and names the table', async () => {
  expect((await migrate(db, legacy, { tenants: ['3'], models: ['Product'] })).ok).toBe(true);
  const tenant = tenantIdFor('3');
  await db.owner.query(`update product set price_cents = price_cents + 1 where tenant_id = $1 and id = $2`, [tenant, rowIdFor(tenant, 'product', 1)]);

  const summary = await migrate(db, legacy, { tenants: ['3'] });
  expect(summary.ok).toBe(false);
  expect(summary.tenants[0].error).toMatch(/^verification failed for product \(content checksum differs/);
  const { rows } = await db.owner.query(`select status, status_error from tenant where id = $1`, [tenant]);
  expect(rows[0].status).toBe('FAILED');
  expect(rows[0].status_error).toMatch(/verification failed for product/);
});
