import { UsageError } from './errors.js';
import type { LegacySource } from './source.js';
import { qi } from './sql.js';

/** Where the legacy tenant registry lives (django-tenants: `public.tenants`, or similar). */
export interface RegistryOptions {
  /** `table` or `schema.table`; each part may be double-quoted. */
  readonly table: string;
  readonly idColumn: string;
  readonly schemaColumn: string;
  readonly nameColumn: string;
}

export const DEFAULT_REGISTRY: RegistryOptions = { table: 'public.tenants', idColumn: 'id', schemaColumn: 'schema_name', nameColumn: 'name' };

/** One row of the registry: a tenant of the legacy system and the schema holding its data. */
export interface LegacyTenant {
  /** Registry id, as text (integer or not). */
  readonly legacyId: string;
  readonly schema: string;
  readonly name: string;
}

/** Splits `schema.table` (parts optionally double-quoted, `""` inside quotes) into a quoted name. */
export function registryTableSql(table: string): string {
  const parts: string[] = [];
  const re = /\s*(?:"((?:[^"]|"")*)"|([^".]+))\s*(?:\.|$)/y;
  let m: RegExpExecArray | null;
  while (re.lastIndex < table.length && (m = re.exec(table))) parts.push(m[1] !== undefined ? m[1].replaceAll('""', '"') : m[2].trim());
  if (parts.length < 1 || parts.length > 2 || re.lastIndex < table.length) throw new UsageError(`Bad registry table name: ${table}`);
  return parts.map(qi).join('.');
}

/** Every registry row, ordered by id (numerically when the ids are numbers). */
export async function readRegistry(source: LegacySource, options: RegistryOptions): Promise<LegacyTenant[]> {
  let rows;
  try {
    rows = await source.query<{ legacy_id: string; schema: string; name: string | null }>(
      `select ${qi(options.idColumn)}::text as legacy_id, ${qi(options.schemaColumn)}::text as schema, ${qi(options.nameColumn)}::text as name
         from ${registryTableSql(options.table)}
        order by ${qi(options.idColumn)}`,
    );
  } catch (err) {
    throw new UsageError(`Cannot read the legacy registry ${options.table} (${options.idColumn}, ${options.schemaColumn}, ${options.nameColumn}): ${(err as Error).message}`);
  }
  return rows.map((r) => ({ legacyId: r.legacy_id, schema: r.schema, name: r.name?.trim() || r.schema }));
}

/**
 * `--all`: every registry row except the shared `public` schema (django-tenants registers the public
 * tenant too). `--tenant X`: the row whose schema name or id is X, each X must match.
 */
export function selectTenants(registry: readonly LegacyTenant[], all: boolean, selectors: readonly string[]): LegacyTenant[] {
  if (all) return registry.filter((t) => t.schema !== 'public');
  const picked = new Map<string, LegacyTenant>();
  for (const selector of selectors) {
    const matches = registry.filter((t) => t.schema === selector || t.legacyId === selector);
    if (matches.length === 0) throw new UsageError(`No tenant in the legacy registry has schema or id "${selector}"`);
    for (const t of matches) picked.set(t.legacyId, t);
  }
  return registry.filter((t) => picked.has(t.legacyId));
}
