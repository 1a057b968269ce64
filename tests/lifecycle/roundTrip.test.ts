/**
 * Issue 12, item 4: a tenant with rows in every table holding tenant_id goes through export → erase →
 * import and comes back with the same content (ids remapped) and the same GraphQL answers; while it is
 * erased another tenant reads and writes unaffected, and none of that tenant's rows is touched.
 */
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { NO_PASSWORD_HASH } from '../../src/auth/passwords.js';
import { openArchive } from '../../src/lifecycle/archive.js';
import { planLifecycle, readCatalog, type LifecyclePlan } from '../../src/lifecycle/catalog.js';
import { eraseTenant, requestDeletion } from '../../src/lifecycle/erase.js';
import { exportTenantToFile } from '../../src/lifecycle/export.js';
import { importTenant } from '../../src/lifecycle/import.js';
import { rowIdFor } from '../../src/migrate/ids.js';
import { gql, BASE_DOMAIN, startTestServer, type TestServer } from '../support/server.js';
import { signToken } from '../support/tokens.js';
import { rowCounts, rowVersions, tenantWithDataEverywhere } from './support.js';

let server: TestServer;
let dir: string;
let plan: LifecyclePlan;

beforeAll(async () => {
  server = await startTestServer();
  dir = await mkdtemp(path.join(os.tmpdir(), 'tenantry-roundtrip-'));
  const em = server.orm.em.fork() as EntityManager;
  plan = await em.transactional(async (tx) => planLifecycle(await readCatalog(tx)));
});

afterAll(async () => {
  await server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** What a client sees of its tenant: everything the API shows, through one query. */
const ANSWERS = `{
  currentTenant { name slug status isActive domains { hostname isPrimary isActive verified } }
  me { email role isActive }
  users { id email role isActive }
  products(first: 50) { totalCount edges { node { id sku name priceCents createdAt updatedAt } } }
  customers(first: 50) { totalCount edges { node { id name email createdAt orders(first: 10) { totalCount } } } }
  orders(first: 50) { totalCount edges { node { id number status totalCents createdAt customer { id name } lines { id quantity unitPriceCents product { id sku } } } } }
}`;

/** The tenant's rows of every exported table, as the owner reads them (keyed by table). */
async function content(tenantId: string): Promise<Record<string, Record<string, unknown>[]>> {
  const out: Record<string, Record<string, unknown>[]> = {};
  for (const t of plan.tables.filter((p) => p.exported)) {
    const { rows } = await server.db.owner.query(`select row_to_json(t) as r from "${t.table}" t where tenant_id = $1`, [tenantId]);
    out[t.table] = rows.map((r) => r.r);
  }
  return out;
}

/** `rows` as they must look in the imported tenant: ids remapped as the plan says, tenant replaced. */
function remapped(rows: Record<string, Record<string, unknown>[]>, newTenant: string): Record<string, Record<string, unknown>[]> {
  const importedUsers = new Set(rows.user.map((u) => rowIdFor(newTenant, 'user', u.id as string)));
  const out: Record<string, Record<string, unknown>[]> = {};
  for (const [table, list] of Object.entries(rows)) {
    const roles = plan.tables.find((t) => t.table === table)!.roles;
    out[table] = list.map((row) => {
      const copy: Record<string, unknown> = { ...row, tenant_id: newTenant };
      for (const [column, role] of roles) {
        const value = row[column] as string | null;
        if (value === null || role.kind === 'value') continue;
        const to = rowIdFor(newTenant, role.table, value);
        copy[column] = role.kind === 'id' || importedUsers.has(to) ? to : value;
      }
      if (table === 'user') copy.password_hash = NO_PASSWORD_HASH;
      return copy;
    });
  }
  return out;
}

const sortRows = (rows: Record<string, Record<string, unknown>[]>) =>
  Object.fromEntries(Object.entries(rows).map(([t, list]) => [t, list.map((r) => JSON.stringify(r, Object.keys(r).sort())).sort()]));

/** Tenant B working while A is erased: a read and a write at a time until stopped; every answer kept. */
function work(b: { token: string }) {
  let stop = false;
  const failures: unknown[] = [];
  let reads = 0;
  let writes = 0;
  const loop = (async () => {
    for (let i = 0; !stop; i++) {
      const read = await gql(server, '{ products(first: 50) { totalCount edges { node { sku } } } }', {}, { token: b.token });
      if (read.status !== 200 || read.body.errors || read.body.data.products.totalCount !== 2) failures.push(read.body);
      else reads++;
      const write = await gql(server, `mutation { createCustomer(input: {name: "during erase ${i}"}) { id } }`, {}, { token: b.token });
      if (write.status !== 200 || write.body.errors) failures.push(write.body);
      else writes++;
    }
  })();
  return {
    async stop() {
      stop = true;
      await loop;
      return { failures, reads, writes };
    },
  };
}

test('export → erase → import: the same rows (ids remapped) and the same GraphQL answers; another tenant works on untouched meanwhile', async () => {
  const a = await tenantWithDataEverywhere(server, 'round-a');
  const b = await tenantWithDataEverywhere(server, 'round-b');
  const original = await content(a.tenantId);
  const countsBefore = await rowCounts(server.db, a.tenantId);
  const answersBefore = await gql(server, ANSWERS, {}, { token: a.token });
  expect(answersBefore.body.errors).toBeUndefined();

  // Export: manifest first, tables parents first, counts as in the database.
  const file = path.join(dir, 'round-a.tar.gz');
  const exported = await exportTenantToFile(server.orm, a.tenantId, file, { exportId: randomUUID(), baseDomain: BASE_DOMAIN });
  const names = exported.manifest.tables.map((t) => t.name);
  expect(names.indexOf('customer')).toBeLessThan(names.indexOf('order'));
  expect(names.indexOf('order')).toBeLessThan(names.indexOf('order_line'));
  expect(names.indexOf('user')).toBeLessThan(names.indexOf('audit_event'));
  expect(names).not.toContain('refresh_token');
  for (const t of exported.manifest.tables) expect([t.name, t.rows]).toEqual([t.name, countsBefore[t.name]]);
  expect(exported.manifest.tables.find((t) => t.name === 'user')!.columns.map((c) => c.name)).not.toContain('password_hash');
  const archive = await openArchive(createReadStream(file));
  expect(archive.manifest.tenant).toMatchObject({ id: a.tenantId, slug: 'round-a' });
  let lines = 0;
  for await (const batch of archive.batches(1000)) lines += batch.lines.length;
  expect(lines).toBe(exported.manifest.tables.reduce((n, t) => n + t.rows, 0));

  // Erase, while B reads and writes.
  const bRows = await rowVersions(server.db, b.tenantId);
  await requestDeletion(server.orm, a.tenantId, { actorId: null, confirmSlug: 'round-a' });
  const traffic = work(b);
  const tombstone = await eraseTenant(server.orm, a.tenantId, { batchSize: 2 });
  const during = await traffic.stop();
  expect(during.failures).toEqual([]);
  expect(during.writes).toBeGreaterThan(0);

  expect(tombstone.status).toBe('DELETED');
  expect(tombstone.deletion).toMatchObject({ slug: 'round-a', finishedAt: expect.any(String) });
  const deletedRows = Object.fromEntries(Object.entries(countsBefore).map(([t, n]) => [t, n + (t === 'audit_event' ? 1 : 0)])); // + tenant.delete
  expect(Object.fromEntries(Object.entries(tombstone.deletion!.rows).filter(([, n]) => n > 0))).toEqual(deletedRows);
  const left = await rowCounts(server.db, a.tenantId);
  expect(left).toEqual(Object.fromEntries(Object.keys(countsBefore).map((t) => [t, t === 'audit_event' ? 1 : 0])));
  const { rows: events } = await server.db.owner.query(`select action from audit_event where tenant_id = $1`, [a.tenantId]);
  expect(events).toEqual([{ action: 'tenant.deleted' }]);
  const bAfter = await rowVersions(server.db, b.tenantId);
  expect([...bRows].filter((r) => !bAfter.has(r))).toEqual([]);

  // Import: a new tenant id, the slug taken back from the tombstone of the very tenant exported.
  const imported = await importTenant(server.orm, createReadStream(file), { baseDomain: BASE_DOMAIN });
  expect(imported.tenantId).not.toBe(a.tenantId);
  expect(imported.slug).toBe('round-a');
  const { rows: [row] } = await server.db.owner.query(`select status, slug from tenant where id = $1`, [imported.tenantId]);
  expect(row).toEqual({ status: 'READY', slug: 'round-a' });

  const restored = await content(imported.tenantId);
  restored.audit_event = restored.audit_event.filter((e) => e.action !== 'tenant.import');
  expect(sortRows(restored)).toEqual(sortRows(remapped(original, imported.tenantId)));

  const adminId = rowIdFor(imported.tenantId, 'user', a.userId);
  const token = signToken({ sub: adminId, tenantId: imported.tenantId, role: 'ADMIN' });
  const answersAfter = await gql(server, ANSWERS, {}, { token });
  const ids = new Map<string, string>();
  for (const [table, list] of Object.entries(original)) for (const r of list) ids.set(r.id as string, rowIdFor(imported.tenantId, table, r.id as string));
  const expected = JSON.parse(JSON.stringify(answersBefore.body), (_k, v) => (typeof v === 'string' && ids.has(v) ? ids.get(v) : v));
  // Order lines come in id order, and ids are new: compare them as sets.
  const byContent = (body: unknown) => JSON.parse(JSON.stringify(body), (k, v) => (k === 'lines' ? [...v].sort((x, y) => JSON.stringify(x).localeCompare(JSON.stringify(y))) : v));
  expect(byContent(answersAfter.body)).toEqual(byContent(expected));
}, 60_000);
