/**
 * Issue 12: every table holding tenant_id, read from the database catalog (not from a list), is covered
 * by export, erase and import; and the check itself notices a table the lifecycle cannot handle.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { randomUUID } from 'node:crypto';
import { inTenant } from '../../src/filters/inTenant.js';
import { type CatalogTable, planLifecycle, readCatalog } from '../../src/lifecycle/catalog.js';
import { eraseTenant, requestDeletion } from '../../src/lifecycle/erase.js';
import { TABLE_RULES } from '../../src/lifecycle/tables.js';
import { APP_ROLE, TENANT_SETTING } from '../../src/db/roles.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(() => db?.close());

async function catalog(): Promise<CatalogTable[]> {
  const em = db.orm.em.fork() as EntityManager;
  return em.transactional((tx) => readCatalog(tx));
}

/** Every table of any schema with a tenant_id column, straight from pg_attribute. */
async function tablesHoldingTenantId(): Promise<string[]> {
  const { rows } = await db.owner.query(
    `select n.nspname as schema, c.relname as table from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
      where a.attname = 'tenant_id' and not a.attisdropped and c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema') order by 2`,
  );
  expect(rows.filter((r) => r.schema !== 'public')).toEqual([]);
  return rows.map((r) => r.table);
}

test('every table holding tenant_id is covered by export (or kept out by a rule that says why), erase and import', async () => {
  const tables = await catalog();
  expect(tables.map((t) => t.name)).toEqual(await tablesHoldingTenantId());
  const plan = planLifecycle(tables);
  expect(plan.uncovered).toEqual([]);
  for (const t of plan.tables) {
    // Erase: batches by primary key, found through an index leading with tenant_id.
    expect({ table: t.table, pk: t.catalog.primaryKey.length > 0, indexed: t.catalog.tenantIndexed }).toEqual({ table: t.table, pk: true, indexed: true });
    // Export: exported, or not, for a reason written down.
    expect({ table: t.table, decided: t.exported !== null || (t.notExportedWhy ?? '').length > 0 }).toEqual({ table: t.table, decided: true });
  }
  // Rules name only tables that exist: a renamed table does not leave its rule behind, silently.
  expect(Object.keys(TABLE_RULES).filter((t) => !tables.some((c) => c.name === t))).toEqual([]);
  expect(plan.tables.filter((t) => !t.exported).map((t) => t.table).sort()).toEqual(['idempotency_key', 'migration_checkpoint', 'refresh_token', 'tenant_export', 'tenant_import_checkpoint']);
  expect(plan.tables.find((t) => t.table === 'user')!.exported!.map((c) => c.name)).not.toContain('password_hash');
});

describe('the check itself', () => {
  const scratch = `lifecycle_probe_${process.pid}`;
  afterEach(() => db.owner.query(`drop table if exists public.${scratch}`));

  /** A tenant table as a migration would create it, under RLS. */
  async function createScratch(columns: string): Promise<void> {
    await db.owner.query(`create table public.${scratch} (tenant_id uuid not null references tenant (id), ${columns})`);
    await db.owner.query(`grant select, insert, update, delete on public.${scratch} to ${APP_ROLE}`);
    await db.owner.query(`alter table public.${scratch} enable row level security; alter table public.${scratch} force row level security`);
    await db.owner.query(`create policy p on public.${scratch} to ${APP_ROLE} using (tenant_id = current_setting('${TENANT_SETTING}')::uuid) with check (tenant_id = current_setting('${TENANT_SETTING}')::uuid)`);
  }

  test('a new table of the usual shape is covered without a rule: in the catalog, exported, erased', async () => {
    await createScratch('id uuid not null, note text, primary key (tenant_id, id)');
    const plan = planLifecycle(await catalog());
    expect(plan.uncovered).toEqual([]);
    expect(plan.tables.find((t) => t.table === scratch)?.exported?.map((c) => c.name)).toEqual(['id', 'note']);

    // Erase deletes its rows too, and only the erased tenant's.
    const [gone, kept] = [randomUUID(), randomUUID()];
    for (const [id, slug] of [[gone, 'probe-gone'], [kept, 'probe-kept']]) {
      await db.owner.query(`insert into tenant (id, name, slug, status, created_at) values ($1, $2, $2, 'READY', now())`, [id, slug]);
      await db.owner.query(`insert into public.${scratch} (tenant_id, id, note) select $1, gen_random_uuid(), 'n' || i from generate_series(1, 7) i`, [id]);
    }
    await requestDeletion(db.orm, gone, { actorId: null, confirmSlug: 'probe-gone' });
    const tomb = await eraseTenant(db.orm, gone, { batchSize: 3 });
    expect(tomb.deletion!.rows[scratch]).toBe(7);
    const { rows } = await db.owner.query(`select tenant_id, count(*)::int as n from public.${scratch} group by 1`);
    expect(rows).toEqual([{ tenant_id: kept, n: 7 }]);
    expect(await inTenant(db.orm, kept, async (em) => (await em.execute<{ n: number }[]>(`select count(*)::int as n from ${scratch}`))[0].n)).toBe(7);
  });

  test('flags a column that looks like a credential, a key an import cannot remap, a table erase would have to scan', async () => {
    await createScratch('api_token text, code text primary key');
    const flagged = planLifecycle(await catalog()).uncovered.filter((u) => u.table === scratch).map((u) => u.reason);
    expect(flagged).toEqual([
      "no index leading with tenant_id: every batch would read every tenant's rows",
      'column api_token looks like a credential: omit it or keep it',
      'primary key neither leads with tenant_id nor is a uuid: an imported copy could collide',
    ]);
  });

  test('flags a table without a primary key, and a foreign key to a table that is not exported', async () => {
    await createScratch('session_id uuid references refresh_token (id)');
    await db.owner.query(`create index on public.${scratch} (tenant_id)`);
    const flagged = planLifecycle(await catalog()).uncovered.filter((u) => u.table === scratch).map((u) => u.reason);
    expect(flagged).toEqual(['no primary key to erase it by, in batches', 'foreign key to refresh_token, which is not exported']);
  });
});
