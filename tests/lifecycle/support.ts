import type { EntityManager } from '@mikro-orm/postgresql';
import { randomUUID } from 'node:crypto';
import type { Orm } from '../../src/db/orm.js';
import { readCatalog } from '../../src/lifecycle/catalog.js';
import { createCustomer, createOrder, createProduct, readyTenant, type SignedUp } from '../support/fixtures.js';
import { gql, type TestServer } from '../support/server.js';
import type { TestDatabase } from '../support/db.js';

/** Every table holding tenant_id, as the lifecycle sees it (the database catalog). */
export async function tenantTables(orm: Orm): Promise<string[]> {
  const em = orm.em.fork() as EntityManager;
  return em.transactional(async (tx) => (await readCatalog(tx)).map((t) => t.name));
}

/** Rows of `tenantId` per table holding tenant_id, as the owner sees them (RLS aside). */
export async function rowCounts(db: TestDatabase, tenantId: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const table of await tenantTables(db.orm)) {
    const { rows } = await db.owner.query(`select count(*)::int as n from "${table}" where tenant_id = $1`, [tenantId]);
    out[table] = rows[0].n;
  }
  return out;
}

/**
 * Every row of `tenantId` in every table holding tenant_id, with the transaction that last wrote it
 * (`xmin`): a row another process updated, deleted or rewrote is missing or has another xmin.
 */
export async function rowVersions(db: TestDatabase, tenantId: string): Promise<Set<string>> {
  const out = new Set<string>();
  for (const table of await tenantTables(db.orm)) {
    const { rows } = await db.owner.query(`select xmin::text as x, t::text as row from "${table}" t where tenant_id = $1`, [tenantId]);
    for (const r of rows) out.add(`${table}:${r.x}:${r.row}`);
  }
  return out;
}

/**
 * A READY tenant with rows in every table holding tenant_id: through the API where the API writes
 * them (users, sessions, domains, catalog, sales, audit, idempotency keys), as the owner for the migrator's and the
 * lifecycle's own tables. Fails when a table stays empty, so a new table is noticed here too.
 */
export async function tenantWithDataEverywhere(server: TestServer, slug: string): Promise<SignedUp & { memberId: string }> {
  const t = await readyTenant(server, slug);
  const opts = { token: t.token };
  const products = [await createProduct(server, opts, `${slug}-A`, 120), await createProduct(server, opts, `${slug}-B`, 990)];
  const customer = await createCustomer(server, opts, 'Ada Lovelace', `ada@${slug}.example.com`);
  await createCustomer(server, opts, 'Zoë Ünicode ✓', null as unknown as string);
  await createOrder(server, opts, customer, [{ productId: products[0], quantity: 3 }, { productId: products[1], quantity: 1 }]);
  // Sent with an Idempotency-Key: its stored answer is a row of idempotency_key.
  await createOrder(server, { ...opts, headers: { 'idempotency-key': `${slug}-second-order` } }, customer, [{ productId: products[1], quantity: 2 }]);
  const member = await gql(server, `mutation { createUser(input: {email: "member@${slug}.example.com", password: "member password 1", role: MEMBER}) { id } }`, {}, opts);
  const claim = await gql(server, `mutation { addDomain(hostname: "shop.${slug}.example.com", isPrimary: false) { id } }`, {}, opts);
  if (!member.body.data || !claim.body.data) throw new Error(`fixture for ${slug}: ${JSON.stringify([member.body, claim.body])}`);
  await db(server).query(
    `insert into migration_note (tenant_id, kind, subject, row_count) values ($1, 'already-present', 'customer', 2);
     `.trim(),
    [t.tenantId],
  );
  await db(server).query(`insert into migration_skipped_row (tenant_id, table_name, legacy_id, reasons, "row") values ($1, 'order', 7, '{orphan:customer_id}', '{"id": 7, "note": "ünïcode \\n line"}')`, [t.tenantId]);
  await db(server).query(`insert into migration_checkpoint (tenant_id, table_name, source_schema, rows_copied, done) values ($1, 'product', 'tenant_legacy', 2, true)`, [t.tenantId]);
  await db(server).query(`insert into tenant_export (tenant_id, id, status, expires_at) values ($1, $2, 'EXPIRED', now())`, [t.tenantId, randomUUID()]);
  await db(server).query(`insert into tenant_import_checkpoint (tenant_id, table_name, export_id, done) values ($1, 'product', $2, true)`, [t.tenantId, randomUUID()]);
  const counts = await rowCounts(server.db, t.tenantId);
  const empty = Object.entries(counts).filter(([, n]) => n === 0).map(([table]) => table);
  if (empty.length) throw new Error(`the fixture left tables without rows of ${slug}: ${empty.join(', ')} (give them rows here)`);
  return { ...t, memberId: member.body.data.createUser.id };
}

const db = (server: TestServer) => server.db.owner;
