/**
 * Every entity the ORM knows is tenant-owned (extends TenantScoped: filter, guard, RLS), tenant-tagged
 * (listed: a tenant column, possibly null, under the same filter, guard and RLS) or on the explicit list
 * of shared tables (no tenant column at all). A new entity that is none of these fails here, before it
 * can hold tenant data without isolation.
 */
import type { EntityMetadata } from '@mikro-orm/core';
import { Entity, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';
import { createOrm, type Orm } from '../../src/db/orm.js';
import { SHARED_ENTITIES, TENANT_ENTITIES, TENANT_TAGGED_ENTITIES, TenantScoped } from '../../src/entities/index.js';
import { TENANT_FILTER } from '../../src/filters/tenantFilter.js';
import { TENANT_TABLES } from '../../src/migrations/Migration20261125000000Init.js';
import { TENANT_TAGGED_TABLES } from '../../src/migrations/Migration20261201100000TenantTaggedTables.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

const isTenantScoped = (meta: EntityMetadata) => meta.class.prototype instanceof TenantScoped;
const isShared = (meta: EntityMetadata) => (SHARED_ENTITIES as readonly unknown[]).includes(meta.class);
const isTagged = (meta: EntityMetadata) => (TENANT_TAGGED_ENTITIES as readonly unknown[]).includes(meta.class);

/** Concrete entities (tables) in the ORM's discovered metadata. */
function tablesOf(orm: Orm): EntityMetadata[] {
  return [...orm.getMetadata().getAll().values()].filter((meta) => !meta.abstract && !meta.embeddable);
}

/** Entities that are neither tenant-owned nor declared tenant-tagged or shared. */
function unclassified(orm: Orm): string[] {
  return tablesOf(orm)
    .filter((meta) => !isTenantScoped(meta) && !isTagged(meta) && !isShared(meta))
    .map((meta) => meta.className);
}

/** Shared entities with a column named tenant_id: a shared table holds no tenant's rows. */
function sharedWithTenantColumn(orm: Orm): string[] {
  return tablesOf(orm)
    .filter((meta) => isShared(meta) && Object.values(meta.properties).some((p) => p.fieldNames?.includes('tenant_id')))
    .map((meta) => meta.className);
}

/** Tenant-owned entities whose table the migration does not put under RLS. */
function missingFromRls(orm: Orm): string[] {
  return tablesOf(orm)
    .filter((meta) => isTenantScoped(meta) && !(TENANT_TABLES as readonly string[]).includes(meta.tableName))
    .map((meta) => `${meta.className} (${meta.tableName})`);
}

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(() => db?.close());

describe('the ORM’s entities', () => {
  test('every entity extends TenantScoped or is listed in TENANT_TAGGED_ENTITIES or SHARED_ENTITIES', () => {
    expect(unclassified(db.orm)).toEqual([]);
  });

  test('no shared or tenant-tagged entity extends TenantScoped', () => {
    expect([...SHARED_ENTITIES, ...TENANT_TAGGED_ENTITIES].filter((e) => e.prototype instanceof TenantScoped).map((e) => e.name)).toEqual([]);
  });

  test('no shared entity has a tenant_id column', () => {
    expect(sharedWithTenantColumn(db.orm)).toEqual([]);
  });

  test.each(TENANT_TAGGED_ENTITIES.map((e) => [e.name, e] as const))('tenant-tagged %s has the tenant filter on by default and its table under RLS', (_name, entity) => {
    const meta = db.orm.getMetadata().get<object>(entity);
    expect(meta.filters[TENANT_FILTER]).toMatchObject({ default: true });
    expect(TENANT_TAGGED_TABLES).toContain(meta.tableName);
  });

  test('TENANT_ENTITIES lists exactly the TenantScoped entities', () => {
    const scoped = tablesOf(db.orm).filter(isTenantScoped).map((m) => m.className);
    expect([...scoped].sort()).toEqual(TENANT_ENTITIES.map((e) => e.name).sort());
  });

  test('every TenantScoped table is in the migration’s TENANT_TABLES (RLS forced)', () => {
    expect(missingFromRls(db.orm)).toEqual([]);
  });

  test('every TENANT_TABLES entry is the table of a TenantScoped entity', () => {
    const scopedTables = tablesOf(db.orm).filter(isTenantScoped).map((m) => m.tableName);
    expect([...TENANT_TABLES].sort()).toEqual(scopedTables.sort());
  });

  test.each(TENANT_ENTITIES.map((e) => [e.name, e] as const))(
    '%s has primary key (tenant, id) and the tenant filter on by default',
    (_name, entity) => {
      const meta = db.orm.getMetadata().get<TenantScoped>(entity);
      expect(meta.primaryKeys).toEqual(['tenant', 'id']);
      expect(meta.filters[TENANT_FILTER]).toMatchObject({ default: true });
    },
  );
});

describe('the check itself', () => {
  @Entity({ tableName: 'rogue_note' })
  class RogueNote {
    @PrimaryKey({ type: 'uuid' })
    id!: string;

    @Property()
    body!: string;
  }

  @Entity({ tableName: 'rogue_scoped' })
  class RogueScoped extends TenantScoped {
    @Property()
    body!: string;
  }

  let orm: Orm | undefined;

  beforeAll(async () => {
    // MikroORM 7 connects lazily: discovery alone needs no database.
    orm = await createOrm(db.appUrl, { entities: [...db.orm.config.get('entities'), RogueNote, RogueScoped] });
  });

  afterAll(() => orm?.close());

  test('flags an entity that neither extends TenantScoped nor is listed as tenant-tagged or shared', () => {
    expect(unclassified(orm!)).toEqual(['RogueNote']);
  });

  test('flags a TenantScoped entity whose table the migration does not cover', () => {
    expect(missingFromRls(orm!)).toEqual(['RogueScoped (rogue_scoped)']);
  });
});
