import type { Problem } from './problems.js';
import type { SourceColumn, SourceTable } from './source.js';
import type { TargetColumn, TargetTable } from './targetModel.js';

/** A target column and where its value comes from in the legacy table. */
export interface MappedColumn {
  readonly target: TargetColumn;
  readonly source: SourceColumn;
  /** `id`: the row's own legacy id, mapped to its uuid; `fk`: a legacy foreign key, mapped to the parent's uuid; `value`: copied. */
  readonly role: 'id' | 'fk' | 'value';
  readonly parentTable?: string;
}

/** How one legacy table maps onto one target table. */
export interface TableMapping {
  readonly target: TargetTable;
  /** Null when the legacy schema has no such table: nothing to copy. */
  readonly source: SourceTable | null;
  /** The target columns written, in target order (`tenant_id` aside). */
  readonly columns: readonly MappedColumn[];
  /** Problems with the table's shape; each blocks the table (an unknown column only without --ignore-unknown-columns). */
  readonly shapeProblems: readonly Problem[];
  /** Things worth knowing that are not problems (defaults used, columns ignored). */
  readonly notes: readonly string[];
}

/**
 * Matches the columns of a legacy table with the target's by name: `id` and every foreign key column
 * must be integers, every legacy column needs a target column, and every required target column
 * without a default needs a legacy one.
 */
export function mapTable(target: TargetTable, source: SourceTable | null, ignoreUnknownColumns: boolean): TableMapping {
  if (!source) return { target, source, columns: [], shapeProblems: [], notes: [`no table "${target.table}" in the legacy schema: nothing to copy`] };
  const byName = new Map(source.columns.map((c) => [c.name, c]));
  const fkByColumn = new Map(target.foreignKeys.map((fk) => [fk.column, fk.parentTable]));
  const columns: MappedColumn[] = [];
  const problems: Problem[] = [];
  const notes: string[] = [];
  const table = target.table;

  for (const col of target.columns) {
    const src = byName.get(col.name);
    const parentTable = fkByColumn.get(col.name);
    if (!src) {
      if (col.name === 'id' || parentTable || (col.notNull && !col.hasDefault)) {
        problems.push({ kind: 'missing-column', table, column: col.name, detail: `the legacy table has no column "${col.name}", which the target requires` });
      } else {
        notes.push(`${table}.${col.name}: not in the legacy table, ${col.hasDefault ? 'the target default is used' : 'left NULL'}`);
      }
      continue;
    }
    if ((col.name === 'id' || parentTable) && !src.isInteger) {
      problems.push({ kind: 'id-type', table, column: col.name, detail: `is ${src.type}; legacy ids and foreign keys must be integers` });
      continue;
    }
    columns.push({ target: col, source: src, role: col.name === 'id' ? 'id' : parentTable ? 'fk' : 'value', parentTable });
  }

  const targetNames = new Set(target.columns.map((c) => c.name));
  for (const src of source.columns) {
    if (targetNames.has(src.name)) continue;
    if (ignoreUnknownColumns) notes.push(`${table}.${src.name}: legacy column ignored (--ignore-unknown-columns)`);
    else problems.push({ kind: 'unknown-column', table, column: src.name, detail: `legacy column (${src.type}) has no target column; its data would be lost (--ignore-unknown-columns drops it)` });
  }
  return { target, source, columns, shapeProblems: problems, notes };
}
