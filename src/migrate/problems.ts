/** What can be wrong with a legacy tenant, found by the plan (dry run and real run alike). */
export type ProblemKind =
  /** a foreign key pointing at no row of the parent table */
  | 'orphan'
  /** NULL in a column the target requires */
  | 'null'
  /** a second row with the same per-tenant unique key (e.g. sku) */
  | 'duplicate'
  /** a value the target column cannot hold (too long, not an enum label, out of range) */
  | 'invalid'
  /** a legacy column the target has no place for (its data would be dropped) */
  | 'unknown-column'
  /** a required target column the legacy table does not have */
  | 'missing-column'
  /** legacy `id` or a foreign key that is not an integer column */
  | 'id-type'
  /** the same legacy `id` on several rows (a legacy table without primary key) */
  | 'duplicate-id'
  /** the registry names a schema that does not exist */
  | 'missing-schema'
  /** `--model` picked a table whose parent table is neither picked nor migrated yet */
  | 'dependency';

export interface Problem {
  readonly kind: ProblemKind;
  readonly table?: string;
  readonly column?: string;
  readonly detail: string;
  /** rows affected (row-level problems) */
  readonly count?: number;
  /** up to five legacy ids of affected rows */
  readonly sampleIds?: readonly string[];
}

/** Row-level problems: `--skip-orphans` skips those rows (and their dependants) instead of stopping. */
export const ROW_LEVEL: ReadonlySet<ProblemKind> = new Set(['orphan', 'null', 'duplicate', 'invalid']);

export function describeProblem(p: Problem): string {
  const where = [p.table, p.column].filter(Boolean).join('.');
  const rows = p.count !== undefined ? ` ${p.count} row(s)` : '';
  const sample = p.sampleIds?.length ? ` (legacy ids ${p.sampleIds.join(', ')}${p.count && p.count > p.sampleIds.length ? ', …' : ''})` : '';
  return `${p.kind}${where ? ` ${where}` : ''}:${rows} ${p.detail}${sample}`.replace(/\s+/g, ' ').trim();
}
