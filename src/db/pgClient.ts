import pg from 'pg';

/** What `begin`, `commit` and `rollback` answer when nothing had to be sent. */
const answered = (command: string): pg.QueryResult => ({ command, rowCount: null, oid: 0, fields: [], rows: [] });

/**
 * The Postgres client of every MikroORM pool (`driverOptions.Client`): `begin` travels with the
 * statement that follows it, in one message and one round trip.
 *
 * MikroORM opens a transaction by sending `begin` (through Kysely) and waiting for its answer before it
 * sends the transaction's first statement: a round trip in which Postgres does nothing, and a socket
 * write that costs the process more CPU than the statement's own work (in the api bench profile,
 * writes to Postgres were a fifth of all CPU). Here `begin` is only noted, answered at once, and sent
 * as the prefix of the next statement: `begin; <statement>` as one simple-query message, which
 * Postgres runs in order, so the statement runs inside the transaction exactly as before. A
 * transaction that sends nothing before its `commit` or `rollback` sends nothing at all.
 *
 * Only a statement sent as text without parameters can carry it (MikroORM inlines its values, so that
 * is every one); anything else (parameters, a cursor) gets `begin` queued ahead of it on its own, as
 * before. A simple query of several statements answers with its last statement's result (what `pg`
 * returns as an array, and Kysely would read as no rows), which also lets a caller send a statement
 * whose result it does not need ahead of one whose result it does (src/filters/inTenant.ts).
 */
export class DeferredBeginClient extends pg.Client {
  #beginPending = false;

  /** Forgets a `begin` that nothing followed (the pool calls it on every checkout: nothing was sent). */
  resetDeferredBegin(): void {
    this.#beginPending = false;
  }

  // The overloads of pg's `query` (callbacks, submittables, config objects) pass through unchanged.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  override query(config: any, values?: any, callback?: any): any {
    const plainText = typeof config === 'string' && (values === undefined || (Array.isArray(values) && values.length === 0)) && callback === undefined;
    if (!plainText) {
      if (this.#beginPending) {
        this.#beginPending = false;
        // Queued first, so it runs first; its failure (a dead connection) fails what follows it too.
        super.query('begin').catch(() => undefined);
      }
      return super.query(config, values, callback);
    }
    const text = config as string;
    if (!this.#beginPending) {
      if (text === 'begin') {
        this.#beginPending = true;
        return Promise.resolve(answered('BEGIN'));
      }
      return lastResult(super.query(text));
    }
    this.#beginPending = false;
    if (text === 'commit' || text === 'rollback') return Promise.resolve(answered(text.toUpperCase()));
    return lastResult(super.query(`begin;${text}`));
  }
}

/** The result of a simple query's last statement (`pg` answers a query of several statements with an array). */
async function lastResult(result: Promise<pg.QueryResult | pg.QueryResult[]>): Promise<pg.QueryResult> {
  const r = await result;
  return Array.isArray(r) ? r[r.length - 1] : r;
}

/** Clears a `begin` left pending by the previous holder of a pooled client (none should be). */
export function resetDeferredBeginOnCheckout(pool: pg.Pool): void {
  pool.on('acquire', (client) => (client as unknown as DeferredBeginClient).resetDeferredBegin?.());
}
