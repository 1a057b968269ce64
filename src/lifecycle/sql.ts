import { rowDigestSql, uuidFromDigestSql } from '../migrate/ids.js';
import { qi, ql } from '../migrate/sql.js';
import { canonical } from '../migrate/tenantSql.js';
import { AGGREGATE } from '../migrate/verify.js';
import type { ValueCategory } from '../migrate/targetModel.js';
import type { CatalogColumn, ColumnRole, TablePlan } from './catalog.js';

/**
 * The lifecycle's SQL, in one place: rows rendered as archive lines, row hashes (the migrator's
 * canonical form, so an archive's checksums are computed exactly as its verification computes them),
 * erase batches and import statements. Every statement names `tenant_id` and runs in the tenant's own
 * scope (`inTenant`), so RLS stands behind each one.
 */

/** A value as it goes into an archive line: zoned timestamps in UTC with a `Z`, everything else as `json_build_object` renders it. */
function lineValue(c: { name: string; category: ValueCategory }, alias: string): string {
  const ref = `${alias}.${qi(c.name)}`;
  if (c.category === 'timestamptz') return `to_char(${ref} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
  return ref;
}

/** One archive line: a JSON object of the exported columns (json_build_object takes at most 50 pairs, so larger rows are merged). */
export function rowLine(columns: readonly CatalogColumn[], alias: string): string {
  const objects: string[] = [];
  for (let i = 0; i < columns.length; i += 50) {
    objects.push(`jsonb_build_object(${columns.slice(i, i + 50).map((c) => `${ql(c.name)}, ${lineValue(c, alias)}`).join(', ')})`);
  }
  return columns.length <= 50 ? `json_build_object(${columns.map((c) => `${ql(c.name)}, ${lineValue(c, alias)}`).join(', ')})::text` : `(${objects.join(' || ')})::text`;
}

/** The MD5 of a row's canonical form over `columns`, as src/migrate/verify.ts hashes rows. */
export function rowHash(columns: readonly { name: string; category: ValueCategory }[], alias: string): string {
  return `md5(json_build_array(${columns.map((c) => canonical(c.category, `${alias}.${qi(c.name)}`)).join(', ')})::text)`;
}

/** The two halves of a row hash `h` as signed 64-bit integers, summed (as numeric: no overflow). */
export const SUM_HALVES = `coalesce(sum(('x' || substr(h, 1, 16))::bit(64)::bigint::numeric), 0) as sum_hi,
       coalesce(sum(('x' || substr(h, 17, 16))::bit(64)::bigint::numeric), 0) as sum_lo`;

/** Row count and checksum of a tenant's rows of `table` over `columns` ($1: the tenant), as the migrator verifies a table. */
export function digestSql(table: string, columns: readonly { name: string; category: ValueCategory }[]): string {
  return `${AGGREGATE} from (select ${rowHash(columns, 't')} as h from ${qi(table)} t where t.tenant_id = $1) q`;
}

/** Declares cursor `name` over a tenant's rows of `plan`'s table as archive lines, in primary-key order ($1: the tenant). */
export function exportCursorSql(name: string, plan: TablePlan): string {
  const order = plan.catalog.primaryKey.map((k) => `t.${qi(k)}`).join(', ');
  return `declare ${qi(name)} no scroll cursor for select ${rowLine(plan.exported!, 't')} as line from ${qi(plan.table)} t where t.tenant_id = $1 order by ${order}`;
}

/**
 * Deletes up to $2 of the tenant's rows of `plan`'s table ($1), by primary key: a short transaction that
 * locks those rows only.
 */
export function eraseBatchSql(plan: TablePlan): string {
  // A table without a primary key (which the coverage test refuses) is still erased, by row address.
  if (plan.catalog.primaryKey.length === 0) {
    return `delete from ${qi(plan.table)} where ctid = any (array(select ctid from ${qi(plan.table)} where tenant_id = $1 limit $2))`;
  }
  const pk = plan.catalog.primaryKey.map(qi).join(', ');
  return `delete from ${qi(plan.table)} where (${pk}) in (select ${pk} from ${qi(plan.table)} where tenant_id = $1 limit $2)`;
}

/** How an import maps ids: to the new tenant's deterministic ids, or (`--keep-ids`) not at all. */
export interface IdMapping {
  /** The imported tenant. */
  readonly tenantId: string;
  readonly keepIds: boolean;
}

/** The new id of `table`'s row whose archive id is `expr`: UUIDv3(`<table>:<archive id>`, new tenant id), as the migrator maps legacy ids. */
export function mappedIdSql(ids: IdMapping, table: string, expr: string): string {
  return ids.keepIds ? expr : uuidFromDigestSql(rowDigestSql(ids.tenantId, table, expr));
}

export interface ImportStatementContext {
  readonly ids: IdMapping;
  /** `<slug>.<BASE_DOMAIN>` of the exported and of the imported tenant. */
  readonly archivePlatformHost: string;
  readonly platformHost: string;
}

/**
 * One import batch of `plan`'s table, one statement ($1: the new tenant, $2: the batch's lines as a JSON
 * array): the archive rows as json_to_recordset reads them (typed as the archive says), inserted with
 * ids mapped, and per side the count and summed hash halves: of the archive rows (checked against the
 * manifest at the end) and of the inserted rows (checked against the table at the end).
 */
export function importBatchSql(plan: TablePlan, archiveColumns: readonly { name: string; type: string; category: ValueCategory }[], ctx: ImportStatementContext): string {
  const r = 'r';
  const archiveNames = new Set(archiveColumns.map((c) => c.name));
  const target = plan.catalog.columns;
  const written = target.filter((c) => archiveNames.has(c.name) || plan.rule.fill?.[c.name] !== undefined || plan.rule.importValue?.[c.name]);
  const valueCtx = { r, archivePlatformHost: ql(ctx.archivePlatformHost), platformHost: ql(ctx.platformHost) };
  const value = (c: CatalogColumn): string => {
    const override = plan.rule.importValue?.[c.name];
    if (override) return override(valueCtx);
    const fill = plan.rule.fill?.[c.name];
    if (fill !== undefined && !archiveNames.has(c.name)) return fill;
    return mapped(plan.roles.get(c.name), `${r}.${qi(c.name)}`, ctx.ids);
  };
  const insertedHash = rowHash(target, 'i');
  return `with ${r} as (select * from json_to_recordset($2::json) as ${r}(${archiveColumns.map((c) => `${qi(c.name)} ${c.type}`).join(', ')})),
    archive as (select ${rowHash(archiveColumns, r)} as h from ${r}),
    ins as (insert into ${qi(plan.table)} ("tenant_id", ${written.map((c) => qi(c.name)).join(', ')})
            select $1::uuid, ${written.map((c) => `(${value(c)})::${c.type}`).join(', ')} from ${r}
            returning *),
    inserted as (select ${insertedHash} as h from ins i)
  select (select count(*) from archive)::int as archive_rows, a.sum_hi::text as archive_sum_hi, a.sum_lo::text as archive_sum_lo,
         (select count(*) from inserted)::int as inserted_rows, b.sum_hi::text as inserted_sum_hi, b.sum_lo::text as inserted_sum_lo
    from (select ${SUM_HALVES} from archive) a, (select ${SUM_HALVES} from inserted) b`;
}

function mapped(role: ColumnRole | undefined, expr: string, ids: IdMapping): string {
  if (!role || role.kind === 'value') return expr;
  const to = mappedIdSql(ids, role.table, expr);
  if (role.kind === 'id') return `case when ${expr} is null then null else ${to} end`;
  // Remapped only when the imported tenant has that row (an actor who is one of its users).
  return `case when ${expr} is not null and exists (select 1 from ${qi(role.table)} x where x.tenant_id = $1 and x.id = ${to}) then ${to} else ${expr} end`;
}
