import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { once } from 'node:events';
import type { MigrateMode } from './options.js';
import { describeProblem, type Problem } from './problems.js';

/**
 * The --skip-orphans report file: one JSON object per line and skipped row, with the tenant, the table,
 * the legacy id, why (`orphan:customer_id`, `null:name`, `duplicate:sku`, `invalid:status`; an orphan
 * is a row whose parent is missing or itself skipped) and the legacy row as it is. Created on the
 * first skipped row; each run writes its own file, from the rows stored for every tenant it processed.
 */
export class SkippedRowsReport {
  private stream: WriteStream | undefined;
  private count = 0;

  constructor(readonly file: string) {}

  async write(entry: SkippedRow): Promise<void> {
    if (!this.stream) {
      await mkdir(path.dirname(this.file), { recursive: true });
      this.stream = createWriteStream(this.file, { flags: 'w' });
    }
    this.count++;
    if (!this.stream.write(`${JSON.stringify(entry)}\n`)) await once(this.stream, 'drain');
  }

  get rows(): number {
    return this.count;
  }

  async close(): Promise<void> {
    if (!this.stream) return;
    const s = this.stream;
    this.stream = undefined;
    await new Promise<void>((resolve, reject) => s.end((err?: Error | null) => (err ? reject(err) : resolve())));
  }
}

export interface SkippedRow {
  readonly tenant: { readonly legacyId: string; readonly schema: string; readonly id: string };
  readonly table: string;
  /** Null for a legacy row without id. */
  readonly legacyId: string | null;
  readonly reasons: readonly string[];
  readonly row: unknown;
}

export function defaultReportPath(now = new Date()): string {
  return path.resolve(`migrate-skipped-${now.toISOString().replace(/[:.]/g, '-')}.jsonl`);
}

/** Per table of a tenant, what the run found and did. */
export interface TableOutcome {
  readonly table: string;
  readonly entity: string;
  readonly selected: boolean;
  readonly sourceRows: number;
  readonly toMove: number;
  readonly invalidRows: number;
  readonly copied: number;
  readonly skipped: number;
  readonly done: boolean;
  readonly problems: readonly Problem[];
  readonly verification?: { readonly ok: boolean; readonly sourceRows: number; readonly targetRows: number; readonly detail?: string };
}

export type TenantResult = 'planned' | 'migrated' | 'partial' | 'verified' | 'failed';

export interface TenantOutcome {
  readonly legacyId: string;
  readonly schema: string;
  readonly name: string;
  readonly tenantId: string;
  readonly slug: string | null;
  readonly status: string | null;
  readonly result: TenantResult;
  readonly ok: boolean;
  readonly error?: string;
  readonly problems: readonly Problem[];
  readonly notes: readonly string[];
  readonly tables: readonly TableOutcome[];
}

export interface MigrationSummary {
  readonly mode: MigrateMode;
  readonly ok: boolean;
  readonly tenants: readonly TenantOutcome[];
  readonly rowsCopied: number;
  readonly seconds: number;
  readonly reportFile: string | null;
  readonly skippedRows: number;
}

/** The human summary printed on stdout at the end. */
export function formatSummary(s: MigrationSummary): string {
  const out: string[] = [];
  for (const t of s.tenants) {
    const head = `${t.ok ? 'OK  ' : 'FAIL'} ${t.schema} (legacy ${t.legacyId}) -> ${t.slug ?? '(no tenant)'} ${t.tenantId}: ${t.result}${t.status ? `, status ${t.status}` : ''}`;
    out.push(head);
    if (t.error) out.push(`     error: ${t.error}`);
    for (const tb of t.tables) {
      if (!tb.selected && !tb.verification) continue;
      const parts = [`rows ${tb.sourceRows}`];
      if (s.mode === 'dry-run') parts.push(`to move ${tb.toMove}`);
      else if (s.mode === 'migrate') parts.push(`copied ${tb.copied}`);
      if (tb.invalidRows) parts.push(`invalid ${tb.invalidRows}`);
      if (tb.skipped) parts.push(`skipped ${tb.skipped}`);
      if (tb.verification) parts.push(tb.verification.ok ? 'verified' : `VERIFY FAILED: ${tb.verification.detail}`);
      out.push(`     ${tb.table.padEnd(12)} ${parts.join(', ')}`);
      for (const p of tb.problems) out.push(`       problem: ${describeProblem(p)}`);
    }
    for (const p of t.problems.filter((p) => !p.table)) out.push(`     problem: ${describeProblem(p)}`);
    for (const n of t.notes) out.push(`     note: ${n}`);
  }
  const failed = s.tenants.filter((t) => !t.ok).length;
  out.push('');
  out.push(
    `${s.mode}: ${s.tenants.length} tenant(s), ${failed} failed, ${s.rowsCopied} row(s) copied in ${s.seconds.toFixed(1)} s` +
      (s.reportFile ? `; ${s.skippedRows} skipped row(s) written to ${s.reportFile}` : ''),
  );
  return out.join('\n');
}
