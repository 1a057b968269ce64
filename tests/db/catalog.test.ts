/**
 * What the migrated database really contains, read from the Postgres catalog (not from the entities):
 * Citus-ready keys on every tenant-owned table, every table's Citus kind as docs/scale-out.md decides it
 * (and what Citus requires of that kind), forced RLS with a tenant policy, and an app role that RLS
 * applies to.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { APP_ROLE, HOST_LOOKUP_FUNCTION, HOST_LOOKUP_ROLE, PLATFORM_ROLE, TENANT_SETTING } from '../../src/db/roles.js';
import { TENANT_TABLES } from '../../src/migrations/Migration20261125000000Init.js';
import { JOB_SCHEMA } from '../../src/migrations/Migration20261125001000JobQueue.js';
import { MIGRATOR_REPORT_TABLES } from '../../src/migrations/Migration20261126000000MigratorReport.js';
import { TENANT_TAGGED_TABLES } from '../../src/migrations/Migration20261201100000TenantTaggedTables.js';
import { IDEMPOTENCY_TABLE } from '../../src/migrations/Migration20261210000000IdempotencyKeys.js';
import { LIFECYCLE_TABLES } from '../../src/migrations/Migration20261215000000TenantLifecycle.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { section, tableRows } from '../support/markdown.js';

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
  primary: boolean;
  /** Unique, or an exclusion constraint's. */
  unique: boolean;
}

/** Every index of `table` (primary keys and unique constraints are backed by one), columns in order; null for an expression. */
function indexesOf(table: string): Promise<IndexRow[]> {
  return query<IndexRow>(
    `select i.relname as index,
            array(select a.attname::text from unnest(x.indkey::int2[]) with ordinality k(attnum, ord)
                    left join pg_attribute a on a.attrelid = x.indrelid and a.attnum = k.attnum
                   order by k.ord) as columns,
            x.indisprimary as primary, x.indisunique or x.indisexclusion as unique
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

});

/**
 * docs/scale-out.md decides each table's Citus kind: its table "Every table's kind" lists them, and the
 * SQL block under "The calls" makes them so. Read once, as written.
 */
type CitusKind = 'distributed' | 'reference' | 'local';

interface CitusCall {
  readonly table: string;
  readonly kind: 'distributed' | 'reference';
  readonly column?: string;
  readonly colocateWith?: string;
}

const SCALE_OUT = readFileSync(path.resolve(import.meta.dirname, '../../docs/scale-out.md'), 'utf8');

/** Table name → kinds given to it (more than one is a mistake the classification test reports). */
const DOCUMENTED_KINDS: ReadonlyMap<string, readonly string[]> = (() => {
  const kinds = new Map<string, string[]>();
  for (const [name, kind] of tableRows(section(SCALE_OUT, "Every table's kind"))) {
    const table = /^`([^`]+)`$/.exec(name)?.[1] ?? name;
    kinds.set(table, [...(kinds.get(table) ?? []), kind]);
  }
  return kinds;
})();

const kindOf = (table: string): CitusKind | undefined => {
  const kinds = DOCUMENTED_KINDS.get(table);
  return kinds?.length === 1 ? (kinds[0] as CitusKind) : undefined;
};

/** The SQL block of "The calls", as written. */
const CALLS_SQL = (() => {
  const text = section(SCALE_OUT, 'The calls').join('\n');
  const block = /^```sql\n([^]*?)^```$/m.exec(text);
  if (!block) throw new Error('docs/scale-out.md: no sql block under "The calls"');
  return block[1];
})();

/** Its create_reference_table and create_distributed_table calls, in order. */
const CALLS: readonly CitusCall[] = [...CALLS_SQL.matchAll(/select (create_reference_table|create_distributed_table)\(([^)]*)\);/g)].map(([, fn, args]) => {
  const [table, column] = [...args.matchAll(/(?:^|,)\s*'([^']*)'/g)].map((m) => m[1]);
  const colocateWith = /colocate_with\s*=>\s*'([^']*)'/.exec(args)?.[1];
  return fn === 'create_reference_table' ? { table, kind: 'reference' } : { table, kind: 'distributed', column, colocateWith };
});

const DISTRIBUTED = CALLS.filter((c) => c.kind === 'distributed');

/** Every table Citus must be told about: all of them outside the system's schemas, the job queue's and MikroORM's bookkeeping. */
async function catalogTables(): Promise<string[]> {
  const rows = await query<{ table: string }>(
    `select case when n.nspname = 'public' then c.relname::text else n.nspname || '.' || c.relname end as table
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.relkind in ('r', 'p') and not c.relispartition
        and n.nspname not in ('pg_catalog', 'information_schema', $1) and n.nspname not like 'pg_toast%' and n.nspname not like 'pg_temp%'
        and (n.nspname, c.relname) <> ('public', 'mikro_orm_migrations')
      order by 1`,
    [JOB_SCHEMA],
  );
  return rows.map((r) => r.table);
}

/** What Citus would refuse in distributed table `table` (distributed by tenant_id), if anything. */
async function distributedTableProblems(table: string): Promise<string[]> {
  const problems: string[] = [];
  const [column] = await query<{ type: string; not_null: boolean }>(
    `select format_type(atttypid, atttypmod) as type, attnotnull as not_null from pg_attribute
      where attrelid = $1::regclass and attname = 'tenant_id' and not attisdropped`,
    [`public."${table}"`],
  );
  if (!column) problems.push('no tenant_id');
  else if (column.type !== 'uuid' || !column.not_null) problems.push(`tenant_id is ${column.type}${column.not_null ? ' not null' : ', nullable'}`);
  const uniques = (await indexesOf(table)).filter((i) => i.unique);
  if (!uniques.some((u) => u.primary)) problems.push('no primary key');
  for (const u of uniques) if (u.columns[0] !== 'tenant_id') problems.push(`${u.index} does not lead with tenant_id`);
  const triggers = await query<{ name: string }>(`select tgname as name from pg_trigger where tgrelid = $1::regclass and not tgisinternal`, [`public."${table}"`]);
  for (const t of triggers) problems.push(`trigger ${t.name}`);
  return problems;
}

/** RLS policies whose condition holds a subquery (Citus refuses those on distributed tables: its policy.c). */
function policiesWithSubqueries(): Promise<{ table: string; policy: string }[]> {
  return query<{ table: string; policy: string }>(
    `select c.relname::text as table, p.polname::text as policy from pg_policy p join pg_class c on c.oid = p.polrelid
      where c.relnamespace = 'public'::regnamespace
        and (coalesce(p.polqual::text, '') like '%{SUBLINK %' or coalesce(p.polwithcheck::text, '') like '%{SUBLINK %')`,
  );
}

/** A foreign key of the schema, with the table it is on. */
type ForeignKeyRow = ConstraintRow & { from: string; ref_table: string; ref_columns: string[] };

/** Every foreign key of the schema's tables, by name. */
async function foreignKeys(): Promise<ForeignKeyRow[]> {
  const tables = (await catalogTables()).filter((t) => !t.includes('.'));
  const perTable = await Promise.all(tables.map(async (from) => (await constraintsOf(from)).filter((c) => c.type === 'f').map((c) => ({ ...c, from }) as ForeignKeyRow)));
  return perTable.flat().sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * Why Citus would refuse `fk` between tables of these kinds, or null (its foreign_constraint.c):
 * nothing but a distributed table may reference a distributed one; a distributed table may not reference
 * a local one; a reference table may reference a local one only with NO ACTION or RESTRICT; between
 * distributed tables tenant_id is at the same position on both sides; a key holding the distribution
 * column neither sets it null or default on delete nor cascades, nulls or defaults it on update.
 */
function foreignKeyProblem(fk: ForeignKeyRow, kinds: (table: string) => CitusKind | undefined): string | null {
  const [from, to] = [kinds(fk.from), kinds(unquote(fk.ref_table)!)];
  if (!from || !to) return `${fk.name}: ${from ? fk.ref_table : fk.from} has no kind`;
  const passive = (action: string) => action === 'a' || action === 'r';
  if (to === 'distributed' && from !== 'distributed') return `${fk.name}: ${from} → distributed`;
  if (from === 'distributed' && to === 'local') return `${fk.name}: distributed → local`;
  if (from === 'reference' && to === 'local' && !(passive(fk.on_update) && passive(fk.on_delete))) return `${fk.name}: reference → local with an action`;
  if (from !== 'distributed') return null;
  const at = fk.columns.indexOf('tenant_id');
  if (to === 'distributed' && (at < 0 || at !== fk.ref_columns.indexOf('tenant_id'))) return `${fk.name}: tenant_id not at the same position on both sides`;
  if (at >= 0 && (fk.on_delete === 'n' || fk.on_delete === 'd')) return `${fk.name}: sets tenant_id null or default on delete`;
  if (at >= 0 && !passive(fk.on_update)) return `${fk.name}: changes tenant_id on update`;
  return null;
}

describe('Citus: every table’s kind (docs/scale-out.md)', () => {
  test('every table of the database, outside the job queue and MikroORM’s migrations, has exactly one kind; the calls make exactly those kinds', async () => {
    const tables = await catalogTables();
    const called = (kind: CitusCall['kind']) => CALLS.filter((c) => c.kind === kind).map((c) => c.table).sort();
    const documented = (kind: CitusKind) => [...DOCUMENTED_KINDS].filter(([, kinds]) => kinds.length === 1 && kinds[0] === kind).map(([t]) => t).sort();
    expect({
      withoutKind: tables.filter((t) => !DOCUMENTED_KINDS.has(t)),
      notInDatabase: [...DOCUMENTED_KINDS.keys()].filter((t) => !tables.includes(t)),
      withSeveralKinds: [...DOCUMENTED_KINDS].filter(([, kinds]) => kinds.length > 1).map(([t]) => t),
      withUnknownKind: [...DOCUMENTED_KINDS].filter(([, kinds]) => kinds.length === 1 && !['distributed', 'reference', 'local'].includes(kinds[0])).map(([t]) => t),
      calledTwice: CALLS.map((c) => c.table).filter((t, i, all) => all.indexOf(t) !== i),
      referenceCalls: called('reference'),
      distributedCalls: called('distributed'),
    }).toEqual({
      withoutKind: [],
      notInDatabase: [],
      withSeveralKinds: [],
      withUnknownKind: [],
      calledTwice: [],
      referenceCalls: documented('reference'),
      distributedCalls: documented('distributed'),
    });
  });

  test('every tenant-owned table of the migrations is distributed', () => {
    expect(TENANT_OWNED.filter((t) => kindOf(t) !== 'distributed')).toEqual([]);
  });

  test('the distributed tables are distributed by tenant_id, in one colocation group: the first table’s', () => {
    const [first, ...rest] = DISTRIBUTED;
    expect(DISTRIBUTED.map((c) => ({ table: c.table, column: c.column, colocateWith: c.colocateWith }))).toEqual([
      { table: first.table, column: 'tenant_id', colocateWith: 'none' },
      ...rest.map((c) => ({ table: c.table, column: 'tenant_id', colocateWith: first.table })),
    ]);
  });

  test.each(DISTRIBUTED.map((c) => [c.table] as const))('%s (distributed): tenant_id is uuid not null and leads the primary key and every unique index; no triggers of its own', async (table) => {
    expect(await distributedTableProblems(table)).toEqual([]);
  });

  test('every foreign key is one Citus accepts between the kinds of its tables', async () => {
    expect((await foreignKeys()).map((fk) => foreignKeyProblem(fk, kindOf)).filter(Boolean)).toEqual([]);
  });

  test('no RLS policy of a distributed or reference table holds a subquery', async () => {
    expect((await policiesWithSubqueries()).filter((p) => kindOf(p.table) !== 'local')).toEqual([]);
  });

  test('the calls come in dependency order: each after the tables its foreign keys reference and the table it is colocated with', async () => {
    const position = new Map(CALLS.map((c, i) => [c.table, i]));
    const late: string[] = [];
    for (const fk of await foreignKeys()) {
      const [from, to] = [fk.from, unquote(fk.ref_table)!];
      if (from !== to && position.has(from) && position.has(to) && position.get(to)! > position.get(from)!) late.push(`${from} before ${to} (${fk.name})`);
    }
    for (const c of DISTRIBUTED) if (c.colocateWith && position.has(c.colocateWith) && position.get(c.colocateWith)! > position.get(c.table)!) late.push(`${c.table} before ${c.colocateWith}`);
    expect(late).toEqual([]);
  });

  test('the SQL block runs on PostgreSQL as written (Citus’s functions stood in for) and leaves every foreign key as it found it', async () => {
    const definitions = `select conrelid::regclass::text as table, conname as name, pg_get_constraintdef(oid) as definition
                           from pg_constraint where contype = 'f' and connamespace = 'public'::regnamespace order by 1, 2`;
    const client = await db.owner.connect();
    try {
      await client.query('begin');
      const before = (await client.query(definitions)).rows;
      expect(before.length).toBeGreaterThan(0);
      await client.query(`create schema citus_stand_in;
        create table citus_stand_in.calls (n serial, table_name text, column_name text, colocate_with text);
        create function citus_stand_in.citus_set_coordinator_host(host text, port integer) returns void language sql as '';
        create function citus_stand_in.create_reference_table(table_name regclass) returns void language sql
          as $$ insert into citus_stand_in.calls (table_name) select relname from pg_class where oid = table_name $$;
        create function citus_stand_in.create_distributed_table(table_name regclass, distribution_column text, colocate_with text default 'default') returns void language sql
          as $$ insert into citus_stand_in.calls (table_name, column_name, colocate_with)
                select c.relname, a.attname, colocate_with from pg_class c join pg_attribute a on a.attrelid = c.oid
                 where c.oid = table_name and a.attname = distribution_column and not a.attisdropped $$;
        set local search_path = citus_stand_in, public;`);
      await client.query(CALLS_SQL);
      const calls = (await client.query('select table_name, column_name, colocate_with from citus_stand_in.calls order by n')).rows;
      expect({ calls, after: (await client.query(definitions)).rows }).toEqual({
        calls: CALLS.map((c) => ({ table_name: c.table, column_name: c.column ?? null, colocate_with: c.colocateWith ?? null })),
        after: before,
      });
    } finally {
      await client.query('rollback');
      client.release();
    }
  });

  describe('the checks themselves', () => {
    const probe = `catalog_probe_${process.pid}`;
    const probes = ['b', 'r', 'a', 'x'].map((suffix) => `${probe}_${suffix}`);
    afterEach(async () => {
      for (const t of probes) await db.owner.query(`drop table if exists public.${t} cascade`);
    });

    test('flag a table given no kind', async () => {
      await db.owner.query(`create table public.${probe}_x (id uuid primary key)`);
      expect((await catalogTables()).filter((t) => !DOCUMENTED_KINDS.has(t))).toContain(`${probe}_x`);
    });

    test('flag a policy holding a subquery', async () => {
      await db.owner.query(`create table public.${probe}_x (tenant_id uuid)`);
      await db.owner.query(`create policy ${probe}_p on public.${probe}_x using (tenant_id in (select id from tenant))`);
      expect(await policiesWithSubqueries()).toContainEqual({ table: `${probe}_x`, policy: `${probe}_p` });
    });

    test('flag a distributed table whose tenant_id is nullable, that has no primary key, a unique index not led by tenant_id, and a trigger', async () => {
      await db.owner.query(`create table public.${probe}_x (tenant_id uuid, hostname text unique)`);
      await db.owner.query(`create trigger ${probe}_t before insert on public.${probe}_x for each row execute function suppress_redundant_updates_trigger()`);
      expect(await distributedTableProblems(`${probe}_x`)).toEqual([
        'tenant_id is uuid, nullable',
        'no primary key',
        `${probe}_x_hostname_key does not lead with tenant_id`,
        `trigger ${probe}_t`,
      ]);
    });

    test('flag foreign keys Citus refuses: reference → distributed, tenant_id at another position, ON UPDATE CASCADE', async () => {
      const [b, r, a] = probes;
      await db.owner.query(`create table public.${a} (tenant_id uuid, id uuid, primary key (tenant_id, id), unique (id, tenant_id))`);
      await db.owner.query(`create table public.${r} (id uuid primary key, a_tenant uuid, a_id uuid, constraint ${r}_fk foreign key (a_tenant, a_id) references public.${a} (tenant_id, id))`);
      await db.owner.query(`create table public.${b} (tenant_id uuid, id uuid, a_id uuid, primary key (tenant_id, id),
        constraint ${b}_swapped foreign key (a_id, tenant_id) references public.${a} (tenant_id, id),
        constraint ${b}_cascading foreign key (tenant_id, a_id) references public.${a} (tenant_id, id) on update cascade)`);
      const kinds = (t: string): CitusKind | undefined => (t === r ? 'reference' : t === a || t === b ? 'distributed' : kindOf(t));
      const problems = (await foreignKeys()).filter((fk) => fk.name.startsWith(probe)).map((fk) => foreignKeyProblem(fk, kinds));
      expect(problems).toEqual([`${b}_cascading: changes tenant_id on update`, `${b}_swapped: tenant_id not at the same position on both sides`, `${r}_fk: reference → distributed`]);
    });
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
