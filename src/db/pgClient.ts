import pg from 'pg';

/** What `begin`, `commit` and `rollback` answer when nothing had to be sent. */
const answered = (command: string): pg.QueryResult => ({ command, rowCount: null, oid: 0, fields: [], rows: [] });

/**
 * How Kysely opens a transaction: `begin`, or `start transaction` with an isolation level or access mode
 * (at most 57 characters). The length is tested first: it is known without reading a statement that was
 * built by concatenation, which `startsWith` would first copy into one string.
 */
const opensTransaction = (text: string) => text === 'begin' || (text.length <= 64 && text.startsWith('start transaction'));

/**
 * The Postgres client of every MikroORM pool (`driverOptions.Client`): `begin` travels with the
 * statement that follows it, in one message and one round trip, and a read-only transaction's `commit`
 * with the connection's next message.
 *
 * MikroORM opens a transaction by sending `begin` (through Kysely) and waiting for its answer before it
 * sends the transaction's first statement: a round trip in which Postgres does nothing, and a socket
 * write that costs the process more CPU than the statement's own work (in the api bench profile,
 * writes to Postgres were a fifth of all CPU). Here `begin` (or `start transaction …`) is only noted,
 * answered at once, and sent as the prefix of the next statement: `begin; <statement>` as one
 * simple-query message, which Postgres runs in order, so the statement runs inside the transaction
 * exactly as before. A transaction that sends nothing before its `commit` or `rollback` sends nothing.
 *
 * The `commit` of a transaction opened `read only` is answered at once too, and sent as the prefix of
 * whatever the connection sends next (`commit; begin; <statement>`: the next holder's first message), or
 * on its own at the next turn of the event loop when nothing is sent before then (setImmediate: under
 * load the next unit of work takes the connection before that; idle, it is not left inside a
 * transaction). Postgres refuses every write in a read-only transaction, so the request's answer leaves
 * before its `commit` only when there is nothing that `commit` could make durable, no lock it could
 * release but a snapshot's, and nothing it could fail on; each turn it is saved is one socket write less.
 *
 * Only a statement sent as text without parameters can carry them (MikroORM inlines its values, so that
 * is every one); anything else (parameters, a cursor) gets them queued ahead of it on their own, as
 * before. A simple query of several statements answers with its last statement's result (what `pg`
 * returns as an array, and Kysely would read as no rows), which also lets a caller send a statement
 * whose result it does not need ahead of one whose result it does (src/filters/inTenant.ts).
 */
export class DeferredBeginClient extends pg.Client {
  /** The `begin` (or `start transaction …`) not sent yet. */
  #begin: string | null = null;
  /** The open transaction was opened `read only`. */
  #readOnly = false;
  /** A read-only transaction's `commit`, not sent yet. */
  #commitPending = false;

  /**
   * Forgets a `begin` that nothing followed (the pool calls it on every checkout: nothing was sent). A
   * pending `commit` stays: it still goes out ahead of the next holder's first statement.
   */
  resetDeferredBegin(): void {
    this.#begin = null;
    this.#readOnly = false;
  }

  // The overloads of pg's `query` (callbacks, submittables, config objects) pass through unchanged.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  override query(config: any, values?: any, callback?: any): any {
    const plainText = typeof config === 'string' && (values === undefined || (Array.isArray(values) && values.length === 0)) && callback === undefined;
    if (!plainText) {
      // Queued first, so they run first; their failure (a dead connection) fails what follows them too.
      const prefix = this.#takePrefix();
      if (prefix) super.query(prefix).catch(() => undefined);
      return super.query(config, values, callback);
    }
    const text = config as string;
    if (this.#begin === null) {
      if (opensTransaction(text)) {
        this.#begin = text;
        this.#readOnly = text.endsWith(' read only');
        return Promise.resolve(answered('BEGIN'));
      }
      if (text === 'commit' && this.#readOnly) {
        this.#readOnly = false;
        this.#commitPending = true;
        setImmediate(() => this.#flushCommit());
        return Promise.resolve(answered('COMMIT'));
      }
      if (text === 'commit' || text === 'rollback') this.#readOnly = false;
    } else if (text === 'commit' || text === 'rollback') {
      this.#begin = null;
      this.#readOnly = false;
      return Promise.resolve(answered(text.toUpperCase()));
    }
    const prefix = this.#takePrefix();
    return answerOf(super.query(prefix ? `${prefix};${text}` : text), batchSize(text));
  }

  /** What must reach Postgres before the next statement: a pending `commit`, then a pending `begin`. */
  #takePrefix(): string {
    const prefix = [this.#commitPending && 'commit', this.#begin].filter(Boolean).join(';');
    this.#commitPending = false;
    this.#begin = null;
    return prefix;
  }

  /** Sends a pending `commit` on its own (nothing else was sent on the connection since). */
  #flushCommit(): void {
    if (!this.#commitPending) return;
    this.#commitPending = false;
    // A failure (the connection ended) ends the transaction as surely: it had nothing to commit.
    super.query('commit').catch(() => undefined);
  }
}

/** How a batch of reads (`batchOf`) starts: the number of its statements follows. */
const BATCH = '/* tenantry:batch:';

/**
 * Several reads as one simple-query message, one round trip, answered with every read's rows: the
 * answer's `rows` holds one array of rows per statement, in order (a message of several statements is
 * otherwise answered with the last one's rows, below). Statements in Postgres's simple-query protocol
 * run in order, inside the open transaction, and the first that fails ends the message (and the
 * transaction) with its error. Text without parameters only, like everything this client carries.
 */
export function batchOf(statements: readonly string[]): string {
  return `${BATCH}${statements.length} */ ${statements.join('; ')}`;
}

function batchSize(text: string): number {
  return text.startsWith(BATCH) ? Number.parseInt(text.slice(BATCH.length), 10) : 0;
}

/**
 * A simple query's answer: its last statement's result (`pg` answers a query of several statements
 * with an array), or for a batch of `batch` reads, the last one's with every read's rows.
 */
async function answerOf(result: Promise<pg.QueryResult | pg.QueryResult[]>, batch: number): Promise<pg.QueryResult> {
  const r = await result;
  const results = Array.isArray(r) ? r : [r];
  const last = results[results.length - 1];
  return batch > 1 ? { ...last, rows: results.slice(-batch).map((each) => each.rows) } : last;
}

/** Clears a `begin` left pending by the previous holder of a pooled client (none should be). */
export function resetDeferredBeginOnCheckout(pool: pg.Pool): void {
  pool.on('acquire', (client) => (client as unknown as DeferredBeginClient).resetDeferredBegin?.());
}
