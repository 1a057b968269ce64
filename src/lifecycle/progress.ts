import type { Progress } from '../migrate/progress.js';

/** Progress of one lifecycle run over a tenant's tables (export, erase, import). */
export interface TableProgress {
  /** `table` starts, with `total` rows to go. */
  table(table: string, total: number): void;
  /** `rows` more rows of `table` are done (committed, or written to the archive). */
  rows(table: string, rows: number): void;
  tableDone(table: string, rows: number): void;
}

export const NO_PROGRESS: TableProgress = { table() {}, rows() {}, tableDone() {} };

/** The migrator's bars and lines (src/migrate/progress.ts) for one tenant, `label`. */
export function tenantProgress(progress: Progress, label: string): TableProgress {
  return {
    table: (table, total) => progress.table(label, table, total),
    rows: (table, rows) => progress.rows(label, table, rows),
    tableDone: (table, rows) => progress.tableDone(label, table, rows),
  };
}
