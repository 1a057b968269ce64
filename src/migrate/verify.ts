import type { EntityManager } from '@mikro-orm/postgresql';
import type { Orm } from '../db/orm.js';
import { inTenant } from '../filters/inTenant.js';
import type { Snapshot } from './source.js';
import { qi, ql, txQuery } from './sql.js';
import type { TenantSql } from './tenantSql.js';

/** Row count and content checksum of one side of one table. */
export interface TableDigest {
  readonly rows: number;
  readonly checksum: string;
}

export interface TableVerification {
  readonly table: string;
  readonly ok: boolean;
  readonly source: TableDigest;
  readonly target: TableDigest;
  readonly detail?: string;
}

/**
 * The checksum is order-independent: the sum (as numeric, no overflow) of the first and last 64 bits
 * of each row's MD5, folded into one MD5. A row is the JSON array of its canonical values after id
 * mapping (see TenantSql.canonical), so a changed value, a re-pointed foreign key, a missing, extra or
 * duplicated row each change it.
 */
export const AGGREGATE = `select count(*)::bigint::text as rows,
       md5(coalesce(sum(('x' || substr(h, 1, 16))::bit(64)::bigint::numeric), 0)::text || ':' ||
           coalesce(sum(('x' || substr(h, 17, 16))::bit(64)::bigint::numeric), 0)::text) as checksum`;

/**
 * Source side, in the tenant's snapshot, all tables in one statement; only the rows the copy keeps
 * when it filtered invalid ones. A table the legacy schema lacks is empty.
 */
async function sourceDigests(snap: Snapshot, sql: TenantSql, tables: readonly { table: string; onlyValid: boolean }[]): Promise<Map<string, TableDigest>> {
  const parts = tables
    .filter(({ table }) => sql.mapping(table).source)
    .map(({ table, onlyValid }) => {
      const s = sql.alias('s');
      const m = sql.alias('m');
      return `${AGGREGATE}, ${ql(table)} as "table" from (select ${sql.rowHashSource(table, s, m)} as h from ${sql.from(table)} ${s} ${sql.lateral(table, s, m)}
                        ${onlyValid ? `where ${sql.valid(table, s)}` : ''}) q`;
    });
  const rows = parts.length ? await snap.query<{ table: string; rows: string; checksum: string }>(parts.join('\nunion all\n')) : [];
  const out = new Map(tables.map(({ table }) => [table, emptyDigest()]));
  for (const r of rows) out.set(r.table, { rows: Number(r.rows), checksum: r.checksum });
  return out;
}

/** Target side, read as the tenant itself (inTenant: tenant filter and RLS, no bypass), all tables in one statement. */
async function targetDigests(em: EntityManager, sql: TenantSql, tables: readonly string[]): Promise<Map<string, TableDigest>> {
  const parts = tables.map((table) => {
    const t = sql.alias('t');
    if (!sql.mapping(table).source) {
      return `select count(*)::bigint::text as rows, case when count(*) = 0 then 'empty' else '(rows without a legacy table)' end as checksum, ${ql(table)} as "table"
                from ${qi(table)} where tenant_id = $1`;
    }
    return `${AGGREGATE}, ${ql(table)} as "table" from (select ${sql.rowHashTarget(table, t)} as h from ${qi(table)} ${t} where ${t}.tenant_id = $1) q`;
  });
  const { rows } = parts.length ? await txQuery<{ table: string; rows: string; checksum: string }>(em, parts.join('\nunion all\n'), [sql.tenantId]) : { rows: [] };
  return new Map(rows.map((r) => [r.table, { rows: Number(r.rows), checksum: r.checksum }]));
}

/**
 * Compares each table's row count and checksum, source (in the tenant's snapshot) against target
 * (one `inTenant` transaction), and with `orderCounter` checks the counter against the highest order
 * number.
 */
export async function verifyTables(
  orm: Orm,
  snap: Snapshot,
  sql: TenantSql,
  tables: readonly { table: string; onlyValid: boolean }[],
  orderCounter: boolean,
): Promise<TableVerification[]> {
  const sources = await sourceDigests(snap, sql, tables);
  return inTenant(orm, sql.tenantId, async (em) => {
    const targets = await targetDigests(em, sql, tables.map((t) => t.table));
    const out = tables.map(({ table }) => compare(table, sources.get(table)!, targets.get(table)!));
    if (orderCounter) out.push(await checkOrderCounter(em, sql.tenantId));
    return out;
  });
}

function compare(table: string, source: TableDigest, target: TableDigest): TableVerification {
  const ok = source.rows === target.rows && source.checksum === target.checksum;
  const detail = ok
    ? undefined
    : source.rows !== target.rows
      ? `row count differs: source ${source.rows}, target ${target.rows}`
      : `content checksum differs (source ${source.checksum.slice(0, 12)}, target ${target.checksum.slice(0, 12)}) with ${source.rows} rows on both sides`;
  return { table, ok, source, target, detail };
}

/** The order counter must be at least the highest migrated order number (no number handed out twice). */
async function checkOrderCounter(em: EntityManager, tenantId: string): Promise<TableVerification> {
  const { rows } = await txQuery<{ last: number | null; max: number | null }>(
    em,
    `select (select last_number from "order_counter" where tenant_id = $1) as last, (select max("number") from "order" where tenant_id = $1) as max`,
    [tenantId],
  );
  const { last, max } = rows[0];
  const ok = max === null || (last !== null && last >= max);
  return {
    table: 'order_counter',
    ok,
    source: { rows: 1, checksum: `max order number ${max ?? 'none'}` },
    target: { rows: last === null ? 0 : 1, checksum: `last_number ${last ?? 'missing'}` },
    detail: ok ? undefined : `last_number ${last ?? 'missing'} is below the highest order number ${max}`,
  };
}

function emptyDigest(): TableDigest {
  return { rows: 0, checksum: 'empty' };
}
