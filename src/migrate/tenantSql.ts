import { rowDigestSql, uuidFromDigestSql } from './ids.js';
import type { MappedColumn, TableMapping } from './mapping.js';
import type { ProblemKind } from './problems.js';
import { qi, ql, qualified } from './sql.js';
import type { ValueCategory } from './targetModel.js';

/** A per-row test; `sql` is true exactly when the row has the problem (never NULL). */
export interface RowCheck {
  readonly kind: ProblemKind;
  readonly column: string;
  readonly detail: string;
  readonly sql: string;
}

/**
 * SQL over one legacy tenant schema, after id mapping: the expressions the copy, the checks and the
 * verification checksum share, so the rows copied, the rows checked and the rows checksummed are the
 * same rows computed the same way.
 *
 * Validity (what `--skip-orphans` keeps) is recursive: a row is valid when it has no NULL in a required
 * column, no value the target cannot hold, every foreign key points at a *valid* parent row, and no
 * valid row with a lower legacy id has the same per-tenant unique key (the first one wins).
 */
export class TenantSql {
  private seq = 0;

  constructor(
    readonly tenantId: string,
    readonly schema: string,
    private readonly mappings: ReadonlyMap<string, TableMapping>,
  ) {}

  mapping(table: string): TableMapping {
    const m = this.mappings.get(table);
    if (!m) throw new Error(`no mapping for table ${table}`);
    return m;
  }

  /** `"schema"."table"` of the legacy table. */
  from(table: string): string {
    return qualified(this.schema, this.mapping(table).source!.name);
  }

  alias(prefix: string): string {
    return `${prefix}${++this.seq}`;
  }

  /**
   * A LATERAL computing the MD5 digest of every mapped id of a row once (`OFFSET 0` keeps the planner
   * from inlining it, which would hash three times per id). Columns are named after the target columns.
   */
  lateral(table: string, rowAlias: string, latAlias: string): string {
    const m = this.mapping(table);
    const digests = m.columns
      .filter((c) => c.role !== 'value')
      .map((c) => `${rowDigestSql(this.tenantId, c.role === 'id' ? table : c.parentTable!, `${rowAlias}.${qi(c.source.name)}`)} as ${qi(c.target.name)}`);
    return `cross join lateral (select ${digests.join(', ')} offset 0) ${latAlias}`;
  }

  /** The value written to the target column (ids mapped to uuids, naive timestamps read as UTC). */
  copyExpr(c: MappedColumn, rowAlias: string, latAlias: string): string {
    if (c.role !== 'value') return uuidFromDigestSql(`${latAlias}.${qi(c.target.name)}`);
    const ref = `${rowAlias}.${qi(c.source.name)}`;
    if (c.target.category === 'timestamptz' && c.source.type.startsWith('timestamp without time zone')) return `(${ref} at time zone 'UTC')`;
    return ref;
  }

  /** `json_build_object` of the target row, for the copy. */
  copyJson(table: string, rowAlias: string, latAlias: string): string {
    const parts = this.mapping(table).columns.map((c) => `${ql(c.target.name)}, ${this.copyExpr(c, rowAlias, latAlias)}`);
    return `json_build_object(${parts.join(', ')})`;
  }

  /** The MD5 of the row's canonical form (see `canonical`), for the checksum. */
  rowHashSource(table: string, rowAlias: string, latAlias: string): string {
    const parts = this.mapping(table).columns.map((c) => canonical(c.target.category, this.copyExpr(c, rowAlias, latAlias)));
    return `md5(json_build_array(${parts.join(', ')})::text)`;
  }

  /** The same hash over the target row. */
  rowHashTarget(table: string, rowAlias: string): string {
    const parts = this.mapping(table).columns.map((c) => canonical(c.target.category, `${rowAlias}.${qi(c.target.name)}`));
    return `md5(json_build_array(${parts.join(', ')})::text)`;
  }

  /** NULLs in required columns and values the target column cannot hold. */
  ownChecks(table: string, a: string): RowCheck[] {
    const checks: RowCheck[] = [];
    for (const c of this.mapping(table).columns) {
      const ref = `${a}.${qi(c.source.name)}`;
      const t = c.target;
      if (t.notNull) checks.push({ kind: 'null', column: t.name, detail: 'NULL in a required column', sql: `(${ref} is null)` });
      if (t.maxLength !== null) {
        checks.push({ kind: 'invalid', column: t.name, detail: `longer than ${t.maxLength} characters`, sql: `coalesce(length(${ref}::text) > ${t.maxLength}, false)` });
      }
      if (t.enumLabels) {
        const labels = `array[${t.enumLabels.map(ql).join(', ')}]::text[]`;
        checks.push({ kind: 'invalid', column: t.name, detail: `not one of ${t.enumLabels.join(', ')}`, sql: `coalesce(${ref}::text <> all (${labels}), false)` });
      }
      if (t.intRange && c.source.typcategory === 'N' && !(c.source.isInteger && narrowerOrEqual(c.source.type, t.type))) {
        const n = `${ref}::numeric`;
        checks.push({
          kind: 'invalid',
          column: t.name,
          detail: `not an integer in ${t.intRange[0]}..${t.intRange[1]}`,
          sql: `coalesce(${n} <> trunc(${n}) or ${n} not between ${t.intRange[0]} and ${t.intRange[1]}, false)`,
        });
      }
    }
    return checks;
  }

  /**
   * Foreign keys whose parent row is missing (`transitive` false) or missing or itself invalid
   * (`transitive` true: what --skip-orphans uses, so children of a skipped row are skipped too).
   */
  fkChecks(table: string, a: string, transitive: boolean): RowCheck[] {
    return this.mapping(table)
      .columns.filter((c) => c.role === 'fk')
      .map((c) => {
        const ref = `${a}.${qi(c.source.name)}`;
        const parent = this.mappings.get(c.parentTable!);
        let sql: string;
        if (!parent?.source || !parent.columns.some((pc) => pc.role === 'id')) {
          sql = `(${ref} is not null)`;
        } else {
          const p = this.alias('p');
          const parentOk = transitive ? ` and ${this.valid(parent.target.table, p)}` : '';
          sql = `(${ref} is not null and not exists (select 1 from ${this.from(parent.target.table)} ${p} where ${p}."id" = ${ref}${parentOk}))`;
        }
        return { kind: 'orphan' as const, column: c.target.name, detail: `no ${transitive ? 'valid ' : ''}row in ${c.parentTable} with this id`, sql };
      });
  }

  /** A valid row with a lower legacy id has the same per-tenant unique key. */
  dupChecks(table: string, a: string): RowCheck[] {
    const m = this.mapping(table);
    const cols = new Map(m.columns.map((c) => [c.target.name, c]));
    return m.target.uniqueKeys
      .filter((key) => key.every((k) => cols.has(k)))
      .map((key) => {
        const x = this.alias('x');
        const same = key.map((k) => `${x}.${qi(cols.get(k)!.source.name)} = ${a}.${qi(cols.get(k)!.source.name)}`).join(' and ');
        return {
          kind: 'duplicate' as const,
          column: key.join(','),
          detail: `same ${key.join(', ')} as a row with a lower id (the first one is kept)`,
          sql: `exists (select 1 from ${this.from(table)} ${x} where ${same} and ${x}."id" < ${a}."id" and ${this.rowOk(table, x)})`,
        };
      });
  }

  /** Own checks and transitive foreign keys pass (duplicates aside). */
  private rowOk(table: string, a: string): string {
    const bad = [...this.ownChecks(table, a), ...this.fkChecks(table, a, true)].map((c) => c.sql);
    return bad.length ? `not (${bad.join(' or ')})` : 'true';
  }

  /** The row is copied by --skip-orphans (and checksummed as such). */
  valid(table: string, a: string): string {
    const bad = this.dupChecks(table, a).map((c) => c.sql);
    const ok = this.rowOk(table, a);
    return bad.length ? `(${ok} and not (${bad.join(' or ')}))` : `(${ok})`;
  }

  /** Every transitive check of a row, as an array of `kind:column` for the rows that fail. */
  reasons(table: string, a: string): string {
    const checks = [...this.ownChecks(table, a), ...this.fkChecks(table, a, true), ...this.dupChecks(table, a)];
    if (!checks.length) return `array[]::text[]`;
    return `array_remove(array[${checks.map((c) => `case when ${c.sql} then ${ql(`${c.kind}:${c.column}`)} end`).join(', ')}]::text[], null)`;
  }

  /**
   * What the report keeps of a row --skip-orphans leaves out, as a JSON object (see skippedRows.ts):
   * its legacy id, why, and the legacy row as it is (`wholeRow`: the row's whole-row reference).
   */
  skippedJson(table: string, a: string, wholeRow: string): string {
    return `json_build_object('legacy_id', ${a}."id", 'reasons', ${this.reasons(table, a)}, 'row', row_to_json(${wholeRow}))`;
  }
}

/**
 * A form of the value that is the same on both sides whatever their column types (int vs bigint,
 * varchar vs text, naive vs zoned timestamps, enum vs text) and independent of session settings
 * (timestamps rendered in UTC). JSON arrays of these are hashed.
 */
export function canonical(category: ValueCategory, expr: string): string {
  switch (category) {
    case 'uuid':
      return `(${expr})::uuid`;
    case 'number':
      return `(${expr})::numeric`;
    case 'timestamptz':
      return `((${expr})::timestamptz at time zone 'UTC')`;
    case 'timestamp':
      return `(${expr})::timestamp`;
    case 'date':
      return `(${expr})::date`;
    case 'boolean':
      return `(${expr})::boolean`;
    default:
      return `(${expr})::text`;
  }
}

const INT_WIDTH: Record<string, number> = { smallint: 2, integer: 4, bigint: 8 };

function narrowerOrEqual(sourceType: string, targetType: string): boolean {
  return (INT_WIDTH[sourceType] ?? 99) <= (INT_WIDTH[targetType] ?? 0);
}
