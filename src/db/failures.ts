/**
 * Database failures that are not the request's fault and not a bug: the database cannot be reached or
 * went away (`unavailable`), or it did not answer within the server's bounds (`timeout`). Clients
 * see both as SERVICE_UNAVAILABLE with a Retry-After (src/server/errors.ts), never as a 500.
 */
export type DatabaseFailure = 'unavailable' | 'timeout';

/**
 * SQLSTATEs (https://www.postgresql.org/docs/current/errcodes-appendix.html). Class 08 (connection
 * exception) is matched as a class.
 */
const SQLSTATE_FAILURES: Record<string, DatabaseFailure> = {
  '57P01': 'unavailable', // admin_shutdown: the server is stopping, or pg_terminate_backend
  '57P02': 'unavailable', // crash_shutdown
  '57P03': 'unavailable', // cannot_connect_now: starting up or shutting down
  '53300': 'unavailable', // too_many_connections
  '57014': 'timeout', // query_canceled: statement_timeout (the server never cancels otherwise)
  '55P03': 'timeout', // lock_not_available: lock_timeout
  '25P03': 'timeout', // idle_in_transaction_session_timeout
};

/** Socket errors of the connection to Postgres. */
const SOCKET_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/**
 * What `pg` and `pg-pool` say when they have no SQLSTATE to give: the socket closed, a connection could
 * not be made in time, or no pooled connection freed up in time (`connectionTimeoutMillis`).
 */
const DRIVER_MESSAGES: [RegExp, DatabaseFailure][] = [
  [/^timeout exceeded when trying to connect/, 'timeout'],
  [/^Connection terminated/, 'unavailable'],
  [/^Client has encountered a connection error and is not queryable/, 'unavailable'],
  [/^Client was closed and is not queryable/, 'unavailable'],
];

/** The failure `err` (or an error it wraps, via `cause`) stands for, or null when it is something else. */
export function databaseFailure(err: unknown): DatabaseFailure | null {
  // Duck-typed, not `instanceof Error`: a socket error raised by Node itself belongs to another realm
  // than code run in a vm context (as jest runs it), and arrives unwrapped when it happens while a
  // transaction is being opened (MikroORM converts only statements' errors).
  for (let e: unknown = err, depth = 0; isError(e) && depth < 5; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') {
      if (SQLSTATE_FAILURES[code]) return SQLSTATE_FAILURES[code];
      if (/^08[0-9A-Z]{3}$/.test(code) || SOCKET_ERRORS.has(code)) return 'unavailable';
    }
    const hit = DRIVER_MESSAGES.find(([pattern]) => pattern.test(e.message));
    if (hit) return hit[1];
  }
  return null;
}

function isError(e: unknown): e is Error {
  return typeof e === 'object' && e !== null && typeof (e as Error).message === 'string';
}
