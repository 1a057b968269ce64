/**
 * What the migrated database really contains, read from the Postgres catalog (not from the entities):
 * Citus-ready keys on every tenant-owned table, forced RLS with a tenant policy, and an app role that
 * RLS applies to.
 */
import { APP_ROLE, HOST_LOOKUP_FUNCTION, HOST_LOOKUP_ROLE, PLATFORM_ROLE, TENANT_SETTING } from '../../src/db/roles.js';
import { TENANT_TABLES } from '../../src/migrations/Migration20261125000000Init.js';
import { MIGRATOR_REPORT_TABLES } from '../../src/migrations/Migration20261126000000MigratorReport.js';
import { TENANT_TAGGED_TABLES } from '../../src/migrations/Migration20261201100000TenantTaggedTables.js';
import { IDEMPOTENCY_TABLE } from '../../src/migrations/Migration20261210000000IdempotencyKeys.js';
import { LIFECYCLE_TABLES } from '../../src/migrations/Migration20261215000000TenantLifecycle.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(() => db?.close());

async function query<T>(sql: string, params: unknown[] = []): Promise<T[]> {
  return (await db.owner.query(sql, params)).rows as T[];
}

/** Every table holding tenant data: the application's, the migrator's report, the stored answers of idempotency keys and the lifecycle's. */
const TENANT_OWNED = [...TENANT_TABLES, ...MIGRATOR_REPORT_TABLES, IDEMPOTENCY_TABLE, ...LIFECYCLE_TABLES];
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
    const tenant = new Set<string>(TENANT_OWNED);
    const offending = rows.filter((r) => !tenant.has(unquote(r.from)!) && tenant.has(unquote(r.to)!));
    expect(offending).toEqual([]);
  });
});

/** Every table (any schema but the system's) with a column named tenant_id, as `schema.table`. */
async function tablesHoldingTenantId(): Promise<string[]> {
  const rows = await query<{ table: string }>(
    `select n.nspname || '.' || c.relname as table
       from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
      where a.attname = 'tenant_id' and not a.attisdropped and c.relkind in ('r', 'p')
        and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg_toast%'
      order by 1`,
  );
  return rows.map((r) => r.table);
}

interface PolicyRow {
  name: string;
  roles: string[];
  cmd: string;
  permissive: string;
  qual: string;
  check: string | null;
}

function policiesOf(table: string): Promise<PolicyRow[]> {
  return query<PolicyRow>(
    `select policyname as name, roles::text[] as roles, cmd, permissive, qual, with_check as check
       from pg_policies where schemaname || '.' || tablename = $1`,
    [table],
  );
}

const tenantCheck = new RegExp(`^\\(?tenant_id = \\(?current_setting\\('${TENANT_SETTING.replace('.', '\\.')}'::text\\)\\)?::uuid\\)?$`);

/**
 * What is wrong with `table`'s row-level security, if anything: RLS enabled and forced; for the app
 * role exactly one policy, comparing tenant_id with the transaction's tenant setting for reads and
 * writes; the allow-all policy for the platform role alone; any other policy is `extra`'s.
 */
async function rlsProblems(table: string, extra: readonly { roles: string[]; cmd: string; qual: string }[] = []): Promise<string[]> {
  const problems: string[] = [];
  const [flags] = await query<{ enabled: boolean; forced: boolean }>(`select relrowsecurity as enabled, relforcerowsecurity as forced from pg_class where oid = $1::regclass`, [table]);
  if (!flags.enabled || !flags.forced) problems.push(`RLS ${flags.enabled ? 'not forced' : 'not enabled'}`);
  const policies = await policiesOf(table);
  const forApp = policies.filter((p) => p.roles.includes(APP_ROLE) || p.roles.includes('public'));
  const [app] = forApp;
  if (forApp.length !== 1 || app.cmd !== 'ALL' || app.permissive !== 'PERMISSIVE' || app.roles.length !== 1 || !tenantCheck.test(app.qual) || !tenantCheck.test(app.check ?? '')) {
    problems.push(`app role policies ${JSON.stringify(forApp)}`);
  }
  const others = policies.filter((p) => !forApp.includes(p)).map((p) => ({ roles: p.roles, cmd: p.cmd, qual: p.qual }));
  const expected = [{ roles: [PLATFORM_ROLE], cmd: 'ALL', qual: 'true' }, ...extra];
  const key = (p: { roles: string[]; cmd: string; qual: string }) => JSON.stringify(p);
  if (JSON.stringify(others.map(key).sort()) !== JSON.stringify(expected.map(key).sort())) problems.push(`other policies ${JSON.stringify(others)}`);
  return problems;
}

/** The one policy on a tenant-keyed table that is neither the app's nor the platform's. */
const HOST_LOOKUP_POLICY = { roles: [HOST_LOOKUP_ROLE], cmd: 'SELECT', qual: '(is_active AND (verified_at IS NOT NULL))' };
const extraPolicies = (table: string) => (table === 'public.domain' ? [HOST_LOOKUP_POLICY] : []);

const keyedTables = [...TENANT_OWNED, ...TENANT_TAGGED_TABLES].map((t) => [`public.${t}`] as const);

describe('row-level security', () => {
  test('the tables holding a tenant_id are exactly the tenant-owned and tenant-tagged ones', async () => {
    expect(await tablesHoldingTenantId()).toEqual(keyedTables.map(([t]) => t).sort());
  });

  test('every table holding a tenant_id, in any schema, has forced RLS and the tenant policies', async () => {
    const offending: Record<string, string[]> = {};
    for (const table of await tablesHoldingTenantId()) {
      const problems = await rlsProblems(table, extraPolicies(table));
      if (problems.length > 0) offending[table] = problems;
    }
    expect(offending).toEqual({});
  });

  test('exactly the tables holding a tenant_id have RLS', async () => {
    const rows = await query<{ table: string }>(
      `select n.nspname || '.' || c.relname as table from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where c.relkind in ('r', 'p') and c.relrowsecurity order by 1`,
    );
    expect(rows.map((r) => r.table)).toEqual(await tablesHoldingTenantId());
  });

  test.each(keyedTables)('%s: RLS is enabled and forced, the app role’s only policy compares tenant_id with the transaction’s tenant setting, the platform role has the allow-all one', async (table) => {
    expect(await rlsProblems(table, extraPolicies(table))).toEqual([]);
  });

  describe('the check itself', () => {
    const scratch = `catalog_probe_${process.pid}`;
    afterEach(() => db.owner.query(`drop table if exists public.${scratch}`));

    test('flags a table holding tenant_id without RLS', async () => {
      await db.owner.query(`create table public.${scratch} (tenant_id uuid)`);
      expect(await tablesHoldingTenantId()).toContain(`public.${scratch}`);
      expect(await rlsProblems(`public.${scratch}`)).toEqual(['RLS not enabled', 'app role policies []', 'other policies []']);
    });

    test('flags RLS that is not forced, and a policy that lets the app role see platform rows', async () => {
      await db.owner.query(`create table public.${scratch} (tenant_id uuid)`);
      await db.owner.query(`alter table public.${scratch} enable row level security`);
      await db.owner.query(`create policy p on public.${scratch} to ${APP_ROLE} using (tenant_id = current_setting('${TENANT_SETTING}')::uuid or tenant_id is null)`);
      await db.owner.query(`create policy q on public.${scratch} to ${PLATFORM_ROLE} using (true) with check (true)`);
      const problems = await rlsProblems(`public.${scratch}`);
      expect(problems).toHaveLength(2);
      expect(problems[0]).toBe('RLS not forced');
      expect(problems[1]).toMatch(/^app role policies/);
    });
  });

  test('the only SECURITY DEFINER function is the host lookup, owned by the host lookup role, with search_path pinned; no view runs as its owner', async () => {
    const views = await query<{ name: string }>(
      `select c.oid::regclass::text as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where c.relkind in ('v', 'm') and n.nspname not in ('pg_catalog', 'information_schema')
          and not coalesce('security_invoker=true' = any(c.reloptions), false)`,
    );
    const definers = await query<{ name: string; owner: string; config: string[] | null; result: string; volatility: string }>(
      `select p.oid::regprocedure::text as name, p.proowner::regrole::text as owner, p.proconfig as config,
              p.prorettype::regtype::text as result, p.provolatile as volatility
         from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where p.prosecdef and n.nspname not in ('pg_catalog', 'information_schema')`,
    );
    expect({ views, definers }).toEqual({
      views: [],
      definers: [{ name: `${HOST_LOOKUP_FUNCTION}(text)`, owner: HOST_LOOKUP_ROLE, config: ['search_path=pg_catalog, pg_temp'], result: 'uuid', volatility: 's' }],
    });
  });

  test('the host lookup function is executable by the app role and not by PUBLIC', async () => {
    const [row] = await query<{ app: boolean; public: boolean }>(
      `select has_function_privilege($1, $2, 'execute') as app,
              exists (select 1 from pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a where p.oid = $2::regprocedure and a.grantee = 0) as public`,
      [APP_ROLE, `public.${HOST_LOOKUP_FUNCTION}(text)`],
    );
    expect(row).toEqual({ app: true, public: false });
  });

  test('the host lookup role may read hostname, tenant_id, is_active and verified_at of domain, and nothing else anywhere', async () => {
    const tables = await query<{ table: string; privilege: string }>(
      `select table_schema || '.' || table_name as table, privilege_type as privilege from information_schema.role_table_grants where grantee = $1`,
      [HOST_LOOKUP_ROLE],
    );
    const columns = await query<{ column: string; privilege: string }>(
      `select table_schema || '.' || table_name || '.' || column_name as column, privilege_type as privilege
         from information_schema.role_column_grants where grantee = $1 order by 1`,
      [HOST_LOOKUP_ROLE],
    );
    expect({ tables, columns }).toEqual({
      tables: [],
      columns: ['hostname', 'is_active', 'tenant_id', 'verified_at'].map((c) => ({ column: `public.domain.${c}`, privilege: 'SELECT' })),
    });
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

  test('the host lookup role cannot log in, is not a superuser, has no BYPASSRLS, and no role is or has its membership', async () => {
    const [role] = await query<RoleRow>(roleSql, [HOST_LOOKUP_ROLE]);
    expect(role).toMatchObject({ rolsuper: false, rolbypassrls: false, rolcanlogin: false, rolcreaterole: false, rolcreatedb: false });
    const memberships = await query<{ role: string; member: string }>(
      `select roleid::regrole::text as role, member::regrole::text as member from pg_auth_members where roleid = $1::regrole or member = $1::regrole`,
      [HOST_LOOKUP_ROLE],
    );
    expect(memberships).toEqual([]);
  });

  test.each([...TENANT_OWNED, ...TENANT_TAGGED_TABLES].map((t) => [t] as const))('%s: the app role may select, insert, update, delete, and nothing else (TRUNCATE skips RLS)', async (table) => {
    const privileges = ['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'];
    const [row] = await query<Record<string, boolean>>(
      `select ${privileges.map((p, i) => `has_table_privilege($1, $2, '${p}') as p${i}`).join(', ')}`,
      [APP_ROLE, `public."${table}"`],
    );
    const granted = privileges.filter((_p, i) => row[`p${i}`]);
    expect(granted).toEqual(['SELECT', 'INSERT', 'UPDATE', 'DELETE']);
  });
});
