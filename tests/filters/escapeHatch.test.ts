/**
 * asPlatform (src/filters/platform.ts) is the one way across tenants: it lifts the filter, takes the
 * RLS bypass role for one transaction, and writes an audit event. (a) No other code in src/ switches
 * filters off, changes role or otherwise steps around RLS; (b, c) asPlatform does what it says.
 */
import { ref } from '@mikro-orm/core';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Customer, Product, Tenant } from '../../src/entities/index.js';
import { inTenant } from '../../src/filters/inTenant.js';
import { asPlatform } from '../../src/filters/platform.js';
import { TenantWriteRefusedError } from '../../src/filters/writeGuard.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

// ---------------------------------------------------------------------------------------------------
// (a) The source scan

const SRC = path.resolve(import.meta.dirname, '../../src');

/** What only asPlatform may do. Matched per line, comment lines skipped (comments do nothing). */
const FORBIDDEN: readonly { readonly what: string; readonly pattern: RegExp }[] = [
  { what: 'tenant filter switched off', pattern: /\bfilters\s*:\s*(false|\{)/ },
  { what: 'tenant filter switched off', pattern: /\bdisableFilters?\b/ },
  { what: 'role switch', pattern: /\b(set\s+(local\s+|session\s+)?role|reset\s+role|session\s+authorization)\b/i },
  { what: 'role in a session context', pattern: /setSessionContext\s*\(\s*\{[^}]*\brole\b/ },
  { what: 'the platform role', pattern: /\bPLATFORM_ROLE\b|\btenantry_platform\b/ },
  { what: 'platform scope (lifts the filter)', pattern: /\bkind\s*:\s*['"]platform['"]/ },
  { what: 'BYPASSRLS', pattern: /(?<![a-z])bypassrls\b/i },
  { what: 'SUPERUSER', pattern: /(?<![a-z])superuser\b/i },
  { what: 'RLS switched off', pattern: /\b(disable|no\s+force)\s+row\s+level\s+security\b|\brow_security\b/i },
  { what: 'SECURITY DEFINER (runs past RLS)', pattern: /\bsecurity\s+definer\b/i },
  // The tenant setting must only ever be transaction-local, set in one place: inTenant (allowed below).
  { what: 'hand-made set_config', pattern: /\bset_config\b/i },
  { what: 'session-level session context', pattern: /\bsessionContext\s*:/ },
];

/**
 * The places allowed to match, each for one reason. Whole files only for the escape hatch itself;
 * elsewhere the exact line shapes, so anything added next to them is still caught.
 */
const ALLOWED: readonly { readonly file: string; readonly line?: RegExp; readonly why: string }[] = [
  { file: 'filters/platform.ts', why: 'THE escape hatch' },
  { file: 'db/roles.ts', line: /^export const PLATFORM_ROLE = 'tenantry_platform';$/, why: 'declares the role name' },
  { file: 'filters/scope.ts', line: /^\| \{ readonly kind: 'platform'; readonly reason: string \};$/, why: 'declares the scope type' },
  // The migration declares the role, makes the app role a (NOINHERIT) member, grants it the tables and
  // gives it the allow-all policies. Nothing else there may name it.
  { file: 'migrations/Migration20261125000000Init.ts', line: /^import \{ APP_ROLE, PLATFORM_ROLE, TENANT_SETTING \} from '\.\.\/db\/roles\.js';$/, why: 'imports the role name' },
  {
    file: 'migrations/Migration20261125000000Init.ts',
    line: /^if not exists \(select 1 from pg_roles where rolname = '\$\{PLATFORM_ROLE\}'\) then create role \$\{PLATFORM_ROLE\} nologin nosuperuser nobypassrls; end if;$/,
    why: 'creates the role',
  },
  { file: 'migrations/Migration20261125000000Init.ts', line: /^this\.addSql\(`grant \$\{PLATFORM_ROLE\} to \$\{APP_ROLE\};`\);$/, why: 'app role may SET ROLE to it' },
  { file: 'migrations/Migration20261125000000Init.ts', line: /^this\.addSql\(`grant usage on schema public to \$\{APP_ROLE\}, \$\{PLATFORM_ROLE\};`\);$/, why: 'grants it the schema' },
  {
    file: 'migrations/Migration20261125000000Init.ts',
    line: /^this\.addSql\(`grant select, insert, update, delete on "\$\{table\}" to \$\{APP_ROLE\}, \$\{PLATFORM_ROLE\};`\);$/,
    why: 'grants it the tables',
  },
  {
    file: 'migrations/Migration20261125000000Init.ts',
    line: /^this\.addSql\(`create policy "\$\{table\}_platform_access" on "\$\{table\}" to \$\{PLATFORM_ROLE\} using \(true\) with check \(true\);`\);$/,
    why: 'its allow-all policies',
  },
  // The one place the tenant setting is made: transaction-local (`true`), with a bound value, as the
  // first statement of inTenant's transaction (sent with `begin` and the opening read in one round trip).
  { file: 'filters/inTenant.ts', line: /^const SET_TENANT = `select set_config\('\$\{TENANT_SETTING\}', \?, true\)`;$/, why: 'inTenant sets the tenant, transaction-local' },
  // The startup check names what it refuses.
  { file: 'db/database.ts', line: /^role\.rolsuper && 'is a superuser',$/, why: 'assertSubjectToRls names the problem' },
  { file: 'db/database.ts', line: /^role\.rolbypassrls && 'has BYPASSRLS',$/, why: 'assertSubjectToRls names the problem' },
  { file: 'migrations/Migration20261125010000Migrator.ts', line: /^import \{ APP_ROLE, PLATFORM_ROLE \} from '\.\.\/db\/roles\.js';$/, why: 'imports the role name' },
  { file: 'migrations/Migration20261125010000Migrator.ts', line: /^this\.addSql\(`grant select, insert, update, delete on "migration_checkpoint" to \$\{APP_ROLE\}, \$\{PLATFORM_ROLE\};`\);$/, why: 'grants the checkpoint table (written inside asPlatform)' },
  { file: 'db/database.ts', line: /^role\.privileged_member_of && `can SET ROLE to \$\{role\.privileged_member_of\} \(superuser or BYPASSRLS\)`,$/, why: 'assertSubjectToRls names the problem' },
  // The migrator's report tables are tenant tables: the same grants and policies as Init's.
  { file: 'migrations/Migration20261126000000MigratorReport.ts', line: /^import \{ APP_ROLE, PLATFORM_ROLE, TENANT_SETTING \} from '\.\.\/db\/roles\.js';$/, why: 'imports the role name' },
  {
    file: 'migrations/Migration20261126000000MigratorReport.ts',
    line: /^this\.addSql\(`grant select, insert, update, delete on "\$\{table\}" to \$\{APP_ROLE\}, \$\{PLATFORM_ROLE\};`\);$/,
    why: 'grants the report tables (written inside asPlatform)',
  },
  {
    file: 'migrations/Migration20261126000000MigratorReport.ts',
    line: /^this\.addSql\(`create policy "\$\{table\}_platform_access" on "\$\{table\}" to \$\{PLATFORM_ROLE\} using \(true\) with check \(true\);`\);$/,
    why: 'its allow-all policies',
  },
  // Users, domains, refresh tokens, audit events and checkpoints get the same policies as tenant tables.
  {
    file: 'migrations/Migration20261201100000TenantTaggedTables.ts',
    line: /^import \{ APP_ROLE, HOST_LOOKUP_FUNCTION, HOST_LOOKUP_ROLE, PLATFORM_ROLE, TENANT_SETTING \} from '\.\.\/db\/roles\.js';$/,
    why: 'imports the role name',
  },
  {
    file: 'migrations/Migration20261201100000TenantTaggedTables.ts',
    line: /^this\.addSql\(`create policy "\$\{table\}_platform_access" on "\$\{table\}" to \$\{PLATFORM_ROLE\} using \(true\) with check \(true\);`\);$/,
    why: 'its allow-all policies',
  },
  // The lifecycle's tables are tenant tables: the same grants and policies as Init's.
  { file: 'migrations/Migration20261215000000TenantLifecycle.ts', line: /^import \{ APP_ROLE, PLATFORM_ROLE, TENANT_SETTING \} from '\.\.\/db\/roles\.js';$/, why: 'imports the role name' },
  {
    file: 'migrations/Migration20261215000000TenantLifecycle.ts',
    line: /^this\.addSql\(`grant select, insert, update, delete on "\$\{table\}" to \$\{APP_ROLE\}, \$\{PLATFORM_ROLE\};`\);$/,
    why: 'grants the lifecycle tables (export lookups by id go through asPlatform)',
  },
  {
    file: 'migrations/Migration20261215000000TenantLifecycle.ts',
    line: /^this\.addSql\(`create policy "\$\{table\}_platform_access" on "\$\{table\}" to \$\{PLATFORM_ROLE\} using \(true\) with check \(true\);`\);$/,
    why: 'its allow-all policies',
  },
  // Host → tenant before any tenant is known, without opening the hatch per anonymous request. Exactly
  // this function: it returns one tenant id for one hostname, reads only verified, active domains, runs
  // as a role that may read four columns of `domain` and nothing else (tests/db/catalog.test.ts checks
  // owner, grants, policy and search_path), with search_path pinned.
  {
    file: 'migrations/Migration20261201100000TenantTaggedTables.ts',
    line: /^this\.addSql\(`create function public\.\$\{HOST_LOOKUP_FUNCTION\}\(host text\) returns uuid language sql stable security definer set search_path = pg_catalog, pg_temp as \$\$ select d\.tenant_id from public\.domain d where d\.hostname = host and d\.is_active and d\.verified_at is not null \$\$;`\);$/,
    why: 'the host lookup function (tenant id of a verified, active hostname)',
  },
  // The stored answers of idempotency keys are a tenant table: the same grants and policies as Init's.
  { file: 'migrations/Migration20261210000000IdempotencyKeys.ts', line: /^import \{ APP_ROLE, PLATFORM_ROLE, TENANT_SETTING \} from '\.\.\/db\/roles\.js';$/, why: 'imports the role name' },
  {
    file: 'migrations/Migration20261210000000IdempotencyKeys.ts',
    line: /^this\.addSql\(`grant select, insert, update, delete on "\$\{IDEMPOTENCY_TABLE\}" to \$\{APP_ROLE\}, \$\{PLATFORM_ROLE\};`\);$/,
    why: 'grants the table like every tenant table',
  },
  {
    file: 'migrations/Migration20261210000000IdempotencyKeys.ts',
    line: /^this\.addSql\(`create policy "\$\{IDEMPOTENCY_TABLE\}_platform_access" on "\$\{IDEMPOTENCY_TABLE\}" to \$\{PLATFORM_ROLE\} using \(true\) with check \(true\);`\);$/,
    why: 'its allow-all policies',
  },
];

interface Violation {
  readonly at: string;
  readonly what: string;
  readonly line: string;
}

const isComment = (line: string) => /^(\/\/|\/\*|\*)/.test(line);

/** Forbidden matches in one file's text, minus the allowed ones; records which allowances were used. */
function scanSource(file: string, text: string, used = new Set<number>()): Violation[] {
  const out: Violation[] = [];
  const lines = text.split('\n');
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (isComment(line)) return;
    for (const { what, pattern } of FORBIDDEN) {
      if (!pattern.test(line)) continue;
      const allowed = ALLOWED.findIndex((a) => a.file === file && (!a.line || a.line.test(line)));
      if (allowed >= 0) used.add(allowed);
      else out.push({ at: `src/${file}:${i + 1}`, what, line });
    }
  });
  // A session context spread over several lines.
  for (const m of text.matchAll(/setSessionContext\s*\(\s*\{[^)]*?\brole\b[^)]*\)/g)) {
    const lineNo = text.slice(0, m.index).split('\n').length;
    const allowed = ALLOWED.findIndex((a) => a.file === file && !a.line);
    if (allowed >= 0) used.add(allowed);
    else if (!out.some((v) => v.at === `src/${file}:${lineNo}`)) out.push({ at: `src/${file}:${lineNo}`, what: 'role in a session context', line: m[0] });
  }
  return out;
}

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile() && /\.(ts|js|mjs|cjs|sql)$/.test(e.name))
    .map((e) => path.relative(SRC, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
    .sort();
}

describe('the source scan', () => {
  test('nothing in src/ lifts the filter, switches role or steps around RLS outside asPlatform', async () => {
    const used = new Set<number>();
    const violations: Violation[] = [];
    for (const file of await sourceFiles(SRC)) violations.push(...scanSource(file, await readFile(path.join(SRC, file), 'utf8'), used));
    expect(violations).toEqual([]);
  });

  test('every allow-list entry still matches something (no stale allowances)', async () => {
    const used = new Set<number>();
    for (const file of await sourceFiles(SRC)) scanSource(file, await readFile(path.join(SRC, file), 'utf8'), used);
    const stale = ALLOWED.filter((_a, i) => !used.has(i)).map((a) => `${a.file}: ${a.why}`);
    expect(stale).toEqual([]);
  });

  test.each([
    ['filters: false', `await em.find(Product, {}, { filters: false });`],
    ['a filter disabled by name', `await em.find(Product, {}, { filters: { tenant: false } });`],
    ['SET LOCAL ROLE in raw SQL', `await em.execute('SET LOCAL ROLE tenantry_platform');`],
    ['set role in raw SQL', `await em.execute('set role postgres');`],
    ['a session context with a role', `em.setSessionContext({ role: 'someone' });`],
    ['a session context with a role on several lines', `em.setSessionContext({\n  variables: {},\n  role: r,\n});`],
    ['the platform role constant', `const r = PLATFORM_ROLE;`],
    ['a platform scope', `runInScope({ kind: 'platform', reason: 'x' }, fn);`],
    ['a BYPASSRLS grant', `this.addSql('alter role tenantry_app bypassrls');`],
    ['RLS disabled', `this.addSql('alter table product disable row level security');`],
    ['a SECURITY DEFINER function', `this.addSql('create function f() returns int language sql security definer as $$ select 1 $$');`],
    ['a session-level set_config', `await em.execute("select set_config('app.tenant_id', ?, false)", [id]);`],
    ['session-level session context', `defineConfig({ sessionContext: 'connection' });`],
  ])('flags %s outside the escape hatch', (_what, code) => {
    expect(scanSource('somewhere/else.ts', code)).not.toEqual([]);
  });

  test('flags a session-level set_config even where inTenant sets the tenant', () => {
    expect(scanSource('filters/inTenant.ts', "const SET_TENANT = `select set_config('${TENANT_SETTING}', ?, false)`;")).not.toEqual([]);
    expect(scanSource('filters/inTenant.ts', "await em.execute(`select set_config('app.tenant_id', ?, true)`, [id]);")).not.toEqual([]);
  });

  test('does not flag the same code in src/filters/platform.ts', () => {
    expect(scanSource('filters/platform.ts', `em.setSessionContext({ role: PLATFORM_ROLE });`)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------
// (b, c) asPlatform itself

const A = randomUUID();
const B = randomUUID();
const ACTOR = randomUUID();
let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
  for (const [id, slug] of [
    [A, 'hatch-a'],
    [B, 'hatch-b'],
  ]) {
    await db.owner.query(`insert into tenant (id, name, slug, created_at) values ($1, $2, $2, now())`, [id, slug]);
    await db.owner.query(
      `insert into product (tenant_id, id, sku, name, price_cents, created_at, updated_at) values ($1, $2, 'SKU', $3, 1, now(), now())`,
      [id, randomUUID(), slug],
    );
    await db.owner.query(`insert into customer (tenant_id, id, name, created_at) values ($1, $2, $3, now())`, [id, randomUUID(), slug]);
  }
});

beforeEach(() => db.owner.query('delete from audit_event'));

afterAll(() => db?.close());

async function auditEvents(): Promise<Record<string, unknown>[]> {
  return (await db.owner.query('select action, actor_id, tenant_id, target from audit_event')).rows;
}

describe('asPlatform', () => {
  test('sees both tenants’ rows through the ORM (filter lifted)', async () => {
    const tenants = await asPlatform(db.orm, { action: 'test.report' }, async (em) => (await em.find(Product, {})).map((p) => p.tenant.id));
    expect(tenants.sort()).toEqual([A, B].sort());
  });

  test('sees both tenants’ rows through raw SQL (RLS bypassed by the platform role)', async () => {
    const rows = await asPlatform(db.orm, { action: 'test.report' }, (em) => em.execute<{ tenant_id: string }[]>('select tenant_id from customer'));
    expect(rows.map((r) => r.tenant_id).sort()).toEqual([A, B].sort());
  });

  test('writes exactly one audit event with its action, actor, tenant and target', async () => {
    await asPlatform(db.orm, { action: 'tenant.report', actorId: ACTOR, tenantId: B, target: 'products' }, (em) => em.count(Product));
    expect(await auditEvents()).toEqual([{ action: 'tenant.report', actor_id: ACTOR, tenant_id: B, target: 'products' }]);
  });

  test('an error inside rolls back its writes and its audit event', async () => {
    const attempt = asPlatform(db.orm, { action: 'test.failing', actorId: ACTOR, tenantId: A }, async (em) => {
      await em.nativeUpdate(Product, { tenant: B }, { name: 'changed by platform' });
      em.create(Customer, { tenant: A, name: 'created by platform' });
      await em.flush();
      throw new Error('job failed');
    });
    await expect(attempt).rejects.toThrow('job failed');
    expect(await auditEvents()).toEqual([]);
    const { rows } = await db.owner.query(
      `select (select count(*)::int from product where name = 'changed by platform') as changed,
              (select count(*)::int from customer where name = 'created by platform') as created`,
    );
    expect(rows[0]).toEqual({ changed: 0, created: 0 });
  });

  test('control: the same writes without the error are committed with the audit event', async () => {
    await asPlatform(db.orm, { action: 'test.succeeding', actorId: ACTOR, tenantId: A }, async (em) => {
      em.create(Customer, { tenant: A, name: 'created by platform' });
    });
    expect(await auditEvents()).toEqual([{ action: 'test.succeeding', actor_id: ACTOR, tenant_id: A, target: null }]);
    const { rows } = await db.owner.query(`delete from customer where name = 'created by platform' returning tenant_id`);
    expect(rows).toEqual([{ tenant_id: A }]);
  });

  test('cannot move a row between tenants (write guard)', async () => {
    const attempt = asPlatform(db.orm, { action: 'test.move' }, async (em) => {
      const product = await em.findOneOrFail(Product, { tenant: A });
      product.tenant = ref(Tenant, B);
      await em.flush();
    });
    await expect(attempt).rejects.toThrow(TenantWriteRefusedError);
    const { rows } = await db.owner.query('select tenant_id, count(*)::int as n from product group by tenant_id order by tenant_id');
    expect(rows).toEqual([A, B].sort().map((t) => ({ tenant_id: t, n: 1 })));
    expect(await auditEvents()).toEqual([]);
  });

  test('cannot write through an uninitialized reference (write guard)', async () => {
    const [{ id }] = (await db.owner.query('select id from product where tenant_id = $1', [B])).rows;
    const attempt = asPlatform(db.orm, { action: 'test.blind' }, async (em) => {
      em.remove(em.getReference(Product, [B, id]));
      await em.flush();
    });
    await expect(attempt).rejects.toThrow(/through an uninitialized reference/);
    expect((await db.owner.query('select 1 from product where tenant_id = $1 and id = $2', [B, id])).rowCount).toBe(1);
  });

  test('tenant work after asPlatform is scoped again', async () => {
    await asPlatform(db.orm, { action: 'test.report' }, (em) => em.find(Product, {}));
    const tenants = await inTenant(db.orm, A, async (em) => (await em.find(Product, {})).map((p) => p.tenant.id));
    expect(tenants).toEqual([A]);
  });
});
