/**
 * What the migrated database really contains, read from the Postgres catalog (not from the entities):
 * Citus-ready keys on every tenant-owned table, forced RLS with a tenant policy, and an app role that
 * RLS applies to.
 */
import { APP_ROLE, PLATFORM_ROLE, TENANT_SETTING } from '../../src/db/roles.js';
import { TENANT_TABLES } from '../../src/migrations/Migration20261125000000Init.js';
import { MIGRATOR_REPORT_TABLES } from '../../src/migrations/Migration20261126000000MigratorReport.js';
import { IDEMPOTENCY_TABLE } from '../../src/migrations/Migration20261210000000IdempotencyKeys.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(() => db?.close());

async function query<T>(sql: string, params: unknown[] = []): Promise<T[]> {
  return (await db.owner.query(sql, params)).rows as T[];
}

/** Every table holding tenant data: the application's, the migrator's report, the stored answers of idempotency keys. */
const TENANT_OWNED = [...TENANT_TABLES, ...MIGRATOR_REPORT_TABLES, IDEMPOTENCY_TABLE];
const tables = TENANT_OWNED.map((t) => [t] as const);

interface IndexRow {
  index: string;
  columns: (string | null)[];
}

/** Every index of `table` (primary keys and unique constraints are backed by one), columns in order; null for an expression. */
function indexesOf(table: string): Promise<IndexRow[]> {
  return query<IndexRow>(
    `select i.relname as index,
            array(select a.attname::text from unnest(x.indkey::int2[]) with ordinality k(attnum, ord)
                    left join pg_attribute a on a.attrelid = x.indrelid and a.attnum = k.attnum
                   order by k.ord) as columns
       from pg_index x
       join pg_class i on i.oid = x.indexrelid
      where x.indrelid = $1::regclass`,
    [`public."${table}"`],
  );
}

interface ConstraintRow {
  name: string;
  type: 'p' | 'u' | 'f' | 'c' | 'x' | 'n' | 't';
  columns: string[];
  ref_table: string | null;
  ref_columns: string[] | null;
  on_update: string;
  on_delete: string;
}

function constraintsOf(table: string): Promise<ConstraintRow[]> {
  return query<ConstraintRow>(
    `select c.conname as name, c.contype as type,
            array(select a.attname::text from unnest(c.conkey) with ordinality k(attnum, ord)
                    join pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.attnum order by k.ord) as columns,
            c.confrelid::regclass::text as ref_table,
            case when c.contype = 'f' then
              array(select a.attname::text from unnest(c.confkey) with ordinality k(attnum, ord)
                      join pg_attribute a on a.attrelid = c.confrelid and a.attnum = k.attnum order by k.ord)
            end as ref_columns,
            c.confupdtype as on_update, c.confdeltype as on_delete
       from pg_constraint c
      where c.conrelid = $1::regclass`,
    [`public."${table}"`],
  );
}

const unquote = (name: string | null) => name?.replace(/"/g, '') ?? null;

describe('keys on tenant-owned tables', () => {
  test.each(tables)('%s: the primary key is (tenant_id, id)', async (table) => {
    const pks = (await constraintsOf(table)).filter((c) => c.type === 'p');
    expect(pks.map((c) => c.columns)).toEqual([['tenant_id', 'id']]);
  });

  test.each(tables)('%s: every unique constraint leads with tenant_id', async (table) => {
    const uniques = (await constraintsOf(table)).filter((c) => c.type === 'u' || c.type === 'x');
    for (const u of uniques) expect({ constraint: u.name, first: u.columns[0] }).toEqual({ constraint: u.name, first: 'tenant_id' });
  });

  test.each(tables)('%s: every index (primary, unique, plain, partial, expression) leads with tenant_id', async (table) => {
    const indexes = await indexesOf(table);
    expect(indexes.length).toBeGreaterThan(0);
    for (const i of indexes) expect({ index: i.index, first: i.columns[0] }).toEqual({ index: i.index, first: 'tenant_id' });
  });

  test.each(tables)('%s: every foreign key leads with tenant_id, matched to tenant_id of a tenant table or to tenant.id', async (table) => {
    const fks = (await constraintsOf(table)).filter((c) => c.type === 'f');
    expect(fks.length).toBeGreaterThan(0);
    for (const fk of fks) {
      const target = unquote(fk.ref_table)!;
      const expected = (TENANT_TABLES as readonly string[]).includes(target)
        ? { first: 'tenant_id', refFirst: 'tenant_id' }
        : { first: 'tenant_id', refFirst: target === 'tenant' ? 'id' : `(no FK to shared table ${target})` };
      expect({ fk: fk.name, first: fk.columns[0], refFirst: fk.ref_columns![0] }).toEqual({ fk: fk.name, ...expected });
    }
  });

  test.each(tables)('%s: no foreign key cascades updates or sets null/default', async (table) => {
    // Citus rejects on-update cascade and set null/default when the key holds the distribution
    // column; set null would also null tenant_id. a = no action, r = restrict, c = cascade.
    const fks = (await constraintsOf(table)).filter((c) => c.type === 'f');
    for (const fk of fks) {
      expect({ fk: fk.name, onUpdate: fk.on_update }).toEqual({ fk: fk.name, onUpdate: expect.stringMatching(/^[ar]$/) });
      expect({ fk: fk.name, onDelete: fk.on_delete }).toEqual({ fk: fk.name, onDelete: expect.stringMatching(/^[arc]$/) });
    }
  });

  test('no shared table has a foreign key to a tenant-owned table (reference → distributed)', async () => {
    const rows = await query<{ name: string; from: string; to: string }>(
      `select conname as name, conrelid::regclass::text as from, confrelid::regclass::text as to
         from pg_constraint where contype = 'f' and connamespace = 'public'::regnamespace`,
    );
    const tenant = new Set<string>(TENANT_TABLES);
    const offending = rows.filter((r) => !tenant.has(unquote(r.from)!) && tenant.has(unquote(r.to)!));
    expect(offending).toEqual([]);
  });
});

describe('row-level security', () => {
  test('exactly the tenant-owned tables have RLS', async () => {
    const rows = await query<{ table: string }>(
      `select relname as table from pg_class where relnamespace = 'public'::regnamespace and relkind = 'r' and relrowsecurity order by 1`,
    );
    expect(rows.map((r) => r.table)).toEqual([...TENANT_OWNED].sort());
  });

  test.each(tables)('%s: RLS is enabled and forced', async (table) => {
    const [row] = await query<{ enabled: boolean; forced: boolean }>(
      `select relrowsecurity as enabled, relforcerowsecurity as forced from pg_class where oid = $1::regclass`,
      [`public."${table}"`],
    );
    expect(row).toEqual({ enabled: true, forced: true });
  });

  test.each(tables)('%s: the app role’s only policy compares tenant_id with the transaction’s tenant setting, for reads and writes', async (table) => {
    const policies = await query<{ name: string; roles: string[]; cmd: string; permissive: string; qual: string; check: string }>(
      `select policyname as name, roles::text[] as roles, cmd, permissive, qual, with_check as check
         from pg_policies where schemaname = 'public' and tablename = $1`,
      [table],
    );
    const forApp = policies.filter((p) => p.roles.includes(APP_ROLE) || p.roles.includes('public'));
    expect(forApp).toHaveLength(1);
    const [p] = forApp;
    const tenantCheck = new RegExp(`tenant_id = \\(?current_setting\\('${TENANT_SETTING.replace('.', '\\.')}'::text\\)\\)?::uuid`);
    expect(p).toMatchObject({ roles: [APP_ROLE], cmd: 'ALL', permissive: 'PERMISSIVE' });
    expect(p.qual).toMatch(tenantCheck);
    expect(p.check).toMatch(tenantCheck);
    // The allow-all policy belongs to the platform role alone.
    expect(policies.filter((x) => x !== p).map((x) => x.roles)).toEqual([[PLATFORM_ROLE]]);
  });

  test('no view without security_invoker and no SECURITY DEFINER function (either runs as its owner, past RLS)', async () => {
    const views = await query<{ name: string }>(
      `select c.oid::regclass::text as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where c.relkind in ('v', 'm') and n.nspname not in ('pg_catalog', 'information_schema')
          and not coalesce('security_invoker=true' = any(c.reloptions), false)`,
    );
    const definers = await query<{ name: string }>(
      `select p.oid::regprocedure::text as name from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where p.prosecdef and n.nspname not in ('pg_catalog', 'information_schema')`,
    );
    expect({ views, definers }).toEqual({ views: [], definers: [] });
  });
});

describe('roles', () => {
  interface RoleRow {
    rolsuper: boolean;
    rolinherit: boolean;
    rolbypassrls: boolean;
    rolcreaterole: boolean;
    rolcreatedb: boolean;
    rolcanlogin: boolean;
  }
  const roleSql = `select rolsuper, rolinherit, rolbypassrls, rolcreaterole, rolcreatedb, rolcanlogin from pg_roles where rolname = $1`;

  test('the app role is NOINHERIT, not a superuser, without BYPASSRLS, CREATEROLE or CREATEDB', async () => {
    const [role] = await query<RoleRow>(roleSql, [APP_ROLE]);
    expect(role).toMatchObject({ rolsuper: false, rolinherit: false, rolbypassrls: false, rolcreaterole: false, rolcreatedb: false });
  });

  test('the platform role cannot log in, is not a superuser and has no BYPASSRLS (its policies grant access)', async () => {
    const [role] = await query<RoleRow>(roleSql, [PLATFORM_ROLE]);
    expect(role).toMatchObject({ rolsuper: false, rolbypassrls: false, rolcanlogin: false });
  });

  test('the app role owns nothing in the database', async () => {
    const owned = await query<{ what: string }>(
      `select pg_describe_object(classid, objid, objsubid) as what from pg_shdepend
        where deptype = 'o' and refobjid = $1::regrole
          and dbid in (0, (select oid from pg_database where datname = current_database()))`,
      [APP_ROLE],
    );
    expect(owned).toEqual([]);
  });

  test('the app role is a member of the platform role only, without admin option', async () => {
    const rows = await query<{ role: string; admin: boolean }>(
      `select m.roleid::regrole::text as role, m.admin_option as admin from pg_auth_members m where m.member = $1::regrole`,
      [APP_ROLE],
    );
    expect(rows).toEqual([{ role: PLATFORM_ROLE, admin: false }]);
  });

  test.each(tables)('%s: the app role may select, insert, update, delete, and nothing else (TRUNCATE skips RLS)', async (table) => {
    const privileges = ['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'];
    const [row] = await query<Record<string, boolean>>(
      `select ${privileges.map((p, i) => `has_table_privilege($1, $2, '${p}') as p${i}`).join(', ')}`,
      [APP_ROLE, `public."${table}"`],
    );
    const granted = privileges.filter((_p, i) => row[`p${i}`]);
    expect(granted).toEqual(['SELECT', 'INSERT', 'UPDATE', 'DELETE']);
  });
});
