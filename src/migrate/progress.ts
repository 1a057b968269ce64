/**
 * Progress of a migration on stderr: on a terminal, a live block with one bar per tenant being copied
 * (its current table, rows, rows/s, ETA) and an overall line; otherwise plain lines (one per finished
 * table and tenant, and a summary line every few seconds) that read well in CI logs.
 */
export interface Progress {
  /** Total tenants of the run, once known. */
  start(tenants: number): void;
  table(tenant: string, table: string, total: number): void;
  rows(tenant: string, table: string, rows: number): void;
  tableDone(tenant: string, table: string, copied: number): void;
  tenantDone(tenant: string, outcome: string, ok: boolean): void;
  /** A line of its own (warnings, notes). */
  line(text: string): void;
  /** Every tenant went through: the overall line (tenants, rows copied, rate). */
  finish(): void;
  /** Gives the terminal back (whether or not the run finished): nothing more is drawn. */
  close(): void;
}

export interface ProgressStream {
  write(chunk: string): boolean;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

/** `verb`: what happened to a finished table's rows, in the plain lines (the migrator's: `copied`). */
export function createProgress(stream: ProgressStream = process.stderr, options: { tty?: boolean; quiet?: boolean; verb?: string } = {}): Progress {
  if (options.quiet) return new SilentProgress();
  return (options.tty ?? stream.isTTY) ? new TtyProgress(stream) : new PlainProgress(stream, options.verb ?? 'copied');
}

class SilentProgress implements Progress {
  start(): void {}
  table(): void {}
  rows(): void {}
  tableDone(): void {}
  tenantDone(): void {}
  line(): void {}
  finish(): void {}
  close(): void {}
}

interface TableProgress {
  readonly total: number;
  done: number;
  /** When its copy began: the tables of a tenant are copied one after the other. */
  startedAt: number;
}

/** A tenant being copied: its tables still to finish, and the one rows arrived for last. */
interface Active {
  readonly tables: Map<string, TableProgress>;
  current: string;
}

/** Shared bookkeeping: overall rows, rates and ETAs. */
abstract class Tracker implements Progress {
  protected tenantsTotal = 0;
  protected tenantsDone = 0;
  protected failed = 0;
  protected rowsDone = 0;
  protected readonly startedAt = Date.now();
  protected readonly active = new Map<string, Active>();

  start(tenants: number): void {
    this.tenantsTotal = tenants;
  }
  table(tenant: string, table: string, total: number): void {
    let a = this.active.get(tenant);
    if (!a) this.active.set(tenant, (a = { tables: new Map(), current: table }));
    a.tables.set(table, { total, done: 0, startedAt: Date.now() });
    this.changed();
  }
  rows(tenant: string, table: string, rows: number): void {
    const a = this.active.get(tenant);
    const t = a?.tables.get(table);
    if (a && t) {
      t.done += rows;
      a.current = table;
    }
    this.rowsDone += rows;
    this.changed();
  }
  tableDone(tenant: string, table: string, copied: number): void {
    const a = this.active.get(tenant);
    const t = a?.tables.get(table);
    this.finishedTable(tenant, table, copied, t ? (Date.now() - t.startedAt) / 1000 : 0);
    a?.tables.delete(table);
    if (a && a.current === table) {
      a.current = a.tables.keys().next().value ?? table;
      const next = a.tables.get(a.current);
      if (next) next.startedAt = Date.now();
    }
    this.changed();
  }
  tenantDone(tenant: string, outcome: string, ok: boolean): void {
    this.active.delete(tenant);
    this.tenantsDone++;
    if (!ok) this.failed++;
    this.println(`${ok ? '✓' : '✗'} ${tenant}: ${outcome}`);
    this.changed();
  }
  line(text: string): void {
    this.println(text);
  }
  finish(): void {
    this.println(`done: ${this.overall()}`);
  }
  close(): void {}

  protected overall(): string {
    const seconds = (Date.now() - this.startedAt) / 1000;
    const rate = seconds > 0 ? this.rowsDone / seconds : 0;
    const eta = this.tenantsDone > 0 && this.tenantsTotal > this.tenantsDone ? (seconds / this.tenantsDone) * (this.tenantsTotal - this.tenantsDone) : null;
    return `${this.tenantsDone}/${this.tenantsTotal} tenants${this.failed ? ` (${this.failed} failed)` : ''}, ${fmt(this.rowsDone)} rows, ${fmt(rate)} rows/s${eta !== null ? `, ETA ${duration(eta)}` : ''}`;
  }

  /** The line of a tenant being copied: its current table's bar. */
  protected activeLine(tenant: string, a: Active): string | undefined {
    const t = a.tables.get(a.current);
    return t ? `${tenant}: ${a.current} ${barText(t)}` : undefined;
  }

  protected abstract changed(): void;
  protected abstract println(text: string): void;
  protected abstract finishedTable(tenant: string, table: string, copied: number, seconds: number): void;
}

class PlainProgress extends Tracker {
  private lastSummary = Date.now();

  constructor(
    private readonly out: ProgressStream,
    private readonly verb: string,
  ) {
    super();
  }
  protected changed(): void {
    if (Date.now() - this.lastSummary < 5000) return;
    this.lastSummary = Date.now();
    this.println(`progress: ${this.overall()}`);
    for (const [tenant, a] of this.active) {
      const line = this.activeLine(tenant, a);
      if (line && (a.tables.get(a.current)?.total ?? 0) >= 10_000) this.println(`  ${line}`);
    }
  }
  protected println(text: string): void {
    this.out.write(`${text}\n`);
  }
  protected finishedTable(tenant: string, table: string, copied: number, seconds: number): void {
    this.println(`${tenant}: ${table} ${fmt(copied)} rows ${this.verb} in ${seconds.toFixed(2)} s${seconds > 0 ? ` (${fmt(copied / seconds)} rows/s)` : ''}`);
  }
}

class TtyProgress extends Tracker {
  private drawn = 0;
  private lastDraw = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly out: ProgressStream) {
    super();
  }
  protected changed(): void {
    const now = Date.now();
    if (now - this.lastDraw >= 100) this.draw();
    else if (!this.timer) this.timer = setTimeout(() => this.draw(), 100);
  }
  protected println(text: string): void {
    this.clear();
    this.out.write(`${text}\n`);
    this.draw();
  }
  protected finishedTable(): void {}
  override finish(): void {
    this.close();
    this.out.write(`done: ${this.overall()}\n`);
  }
  override close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.closed = true;
    this.clear();
  }

  private clear(): void {
    if (this.drawn > 0) this.out.write(`\x1b[${this.drawn}A\x1b[0J`);
    this.drawn = 0;
  }
  private draw(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.closed) return;
    this.lastDraw = Date.now();
    this.clear();
    const width = Math.max(40, (this.out.columns || 120) - 1);
    const lines = [...this.active].flatMap(([tenant, a]) => {
      const t = a.tables.get(a.current);
      return t ? [`  ${tenant.slice(0, 28).padEnd(28)} ${a.current.padEnd(11)} ${barText(t)}`.slice(0, width)] : [];
    });
    lines.push(`  ${this.overall()}`.slice(0, width));
    this.out.write(`${lines.join('\n')}\n`);
    this.drawn = lines.length;
  }
}

function barText(a: TableProgress): string {
  const width = 20;
  const frac = a.total > 0 ? Math.min(1, a.done / a.total) : 1;
  const filled = Math.round(frac * width);
  const seconds = (Date.now() - a.startedAt) / 1000;
  const rate = seconds > 0 ? a.done / seconds : 0;
  const eta = rate > 0 && a.total > a.done ? duration((a.total - a.done) / rate) : '-';
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${fmt(a.done)}/${fmt(a.total)} ${fmt(rate)} rows/s ETA ${eta}`;
}

export function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function duration(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)}s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m}m${String(Math.round(seconds % 60)).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
