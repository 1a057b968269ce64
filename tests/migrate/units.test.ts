import { v3 as uuidv3, validate, version } from 'uuid';
import { withClient } from '../../src/db/database.js';
import { MIGRATION_NAMESPACE, rowIdFor, rowIdSql, tenantIdFor } from '../../src/migrate/ids.js';
import { registryTableSql, selectTenants } from '../../src/migrate/registry.js';
import { baseSlug, isValidSlug, uniqueSlug } from '../../src/migrate/slug.js';
import { RESERVED_SLUGS } from '../../src/schema/validation.js';
import { databaseUrl } from '../support/db.js';
import { runCli } from './support.js';

describe('deterministic ids', () => {
  test('tenant and row ids are RFC name-based UUIDv3, stable across calls', () => {
    const tenant = tenantIdFor('42');
    expect(tenant).toBe(uuidv3('legacy-tenant:42', MIGRATION_NAMESPACE));
    expect(validate(tenant) && version(tenant)).toBe(3);
    expect(rowIdFor(tenant, 'product', 7)).toBe(rowIdFor(tenant, 'product', '7'));
    expect(rowIdFor(tenant, 'product', 7)).not.toBe(rowIdFor(tenant, 'customer', 7));
    expect(rowIdFor(tenant, 'product', 7)).not.toBe(rowIdFor(tenantIdFor('43'), 'product', 7));
  });

  test('the SQL expression computes exactly what the uuid package computes', async () => {
    const tenant = tenantIdFor('tenant-with-odd-id');
    const ids = [0, 1, 2, 255, 65_536, 2_147_483_647, -5, '9007199254740993'];
    const rows = await withClient(databaseUrl('postgres'), async (c) => {
      const out: string[] = [];
      for (const id of ids) out.push((await c.query(`select ${rowIdSql(tenant, 'order_line', '$1::bigint')} as u`, [String(id)])).rows[0].u);
      out.push((await c.query(`select ${rowIdSql(tenant, 'order_line', 'null::bigint')} as u`)).rows[0].u);
      return out;
    });
    expect(rows).toEqual([...ids.map((id) => rowIdFor(tenant, 'order_line', id)), null]);
  });
});

describe('slugs from schema names', () => {
  test.each([
    ['tenant_novyj-testovyj-magazin-2', '1', 'novyj-testovyj-magazin-2'],
    ['tenant_Тестовый-Магазин', '2', 'testovyj-magazin'],
    ['Tenant_UPPER', '3', 'upper'],
    ['tenant with spaces', '4', 'tenant-with-spaces'],
    ['tenant"quote', '5', 'tenant-quote'],
    ['tenant_ümlaut-café', '6', 'umlaut-cafe'],
    ['www', '8', 'www-8'],
    ['1st-tenant', '9', 't-1st-tenant'],
    ['x', '12', 'x-12'],
    ['tenant_', '13', 'tenant-13'],
    ['中文', '14', 'tenant-14'],
    ['tenant_' + 'a'.repeat(80), '15', 'a'.repeat(40)],
  ])('%s -> %s', (schema, id, slug) => {
    expect(baseSlug(schema, id, 'tenant_')).toBe(slug);
    expect(isValidSlug(slug)).toBe(true);
  });

  test('every derived slug is valid, also for hostile names', () => {
    for (const schema of ['', '-', '---', 'API', 'admin', 'tenant_admin', 'Ж', '0', '__', 'a-b', 'ab', '$$$', 'x'.repeat(200)]) {
      const slug = baseSlug(schema, '77', 'tenant_');
      expect({ schema, valid: isValidSlug(slug) }).toEqual({ schema, valid: true });
    }
  });

  test('collisions get -2, -3 … within 40 characters; reserved words are skipped', () => {
    const taken = new Set(['shop', 'shop-2']);
    expect(uniqueSlug('shop', (s) => taken.has(s))).toBe('shop-3');
    const long = 'l'.repeat(40);
    expect(uniqueSlug(long, (s) => s === long)).toBe(`${'l'.repeat(38)}-2`);
    expect(RESERVED_SLUGS.has('api')).toBe(true);
    expect(uniqueSlug('api', () => false)).toBe('api-2');
  });
});

describe('registry', () => {
  test('table names are parsed and quoted', () => {
    expect(registryTableSql('public.tenants')).toBe('"public"."tenants"');
    expect(registryTableSql('tenants')).toBe('"tenants"');
    expect(registryTableSql('"My.Schema"."Ten""ants"')).toBe('"My.Schema"."Ten""ants"');
    expect(() => registryTableSql('a.b.c')).toThrow(/Bad registry table/);
  });

  test('--all skips the shared public schema; --tenant matches schema or id and refuses unknown ones', () => {
    const registry = [
      { legacyId: '0', schema: 'public', name: 'Public' },
      { legacyId: '1', schema: 'tenant_a', name: 'A' },
      { legacyId: '2', schema: 'tenant_b', name: 'B' },
    ];
    expect(selectTenants(registry, true, []).map((t) => t.schema)).toEqual(['tenant_a', 'tenant_b']);
    expect(selectTenants(registry, false, ['2', 'tenant_a']).map((t) => t.schema)).toEqual(['tenant_a', 'tenant_b']);
    expect(() => selectTenants(registry, false, ['nope'])).toThrow(/No tenant in the legacy registry/);
  });
});

describe('command line', () => {
  test('--help documents every flag; bad usage exits 2 before touching any database', async () => {
    const [help, usage, model] = await Promise.all([
      runCli(null, ['migrate-schemas', '--help']),
      runCli(null, ['migrate-schemas', '--all', '--tenant', 'x']),
      runCli(null, ['migrate-schemas', '--all', '--batch-size', 'lots']),
    ]);
    expect(help.code).toBe(0);
    for (const flag of ['--all', '--tenant', '--model', '--dry-run', '--source', '--batch-size', '--verify-only', '--skip-orphans', '--report', 'Exit codes']) {
      expect(help.stdout).toContain(flag);
    }
    expect([usage.code, usage.stderr.split('\n')[0]]).toEqual([2, 'Give either --all or at least one --tenant']);
    expect([model.code, model.stderr.split('\n')[0]]).toEqual([2, '--batch-size must be a positive integer, got "lots"']);
  }, 20_000);
});
