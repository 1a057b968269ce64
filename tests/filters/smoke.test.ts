import { createTestDatabase } from '../support/db.js';
import { Product, Tenant } from '../../src/entities/index.js';
import { inTenant } from '../../src/filters/inTenant.js';

test('smoke', async () => {
  const db = await createTestDatabase();
  const em = db.orm.em.fork();
  const a = em.create(Tenant, { name: 'A', slug: 'aaa' });
  await em.flush();
  await inTenant(db.orm, a.id, async (tx) => {
    tx.create(Product, { sku: 'X1', name: 'x', priceCents: 5 } as any);
    await tx.flush();
    const all = await tx.find(Product, {});
    expect(all).toHaveLength(1);
  });
  const rows = await db.owner.query('select * from product');
  expect(rows.rows[0].tenant_id).toBe(a.id);
  await db.close();
});
