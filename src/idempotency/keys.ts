import { createHash } from 'node:crypto';
import { stringify } from 'safe-stable-stringify';
import type { RequestIdentity } from '../context/requestContext.js';
import { AppError } from '../errors.js';

/** 1–255 visible ASCII characters other than `"`: a UUID fits, and so does any other opaque token. */
const KEY_SHAPE = /^[\x21\x23-\x7E]{1,255}$/;

/** A mutation whose answer is stored under, and replayed for, its caller's key. */
export interface IdempotentRequest {
  readonly tenantId: string;
  readonly userId: string;
  readonly key: string;
  /** SHA-256 of the operation as sent: its document, operation name and variables. */
  readonly hash: Buffer;
}

/** The operation a key is sent with, as the client sent it. */
export interface KeyedOperation {
  /** The document's text (also when it came as a persisted query's hash). */
  readonly source: string;
  readonly operationName?: string | null;
  readonly variables?: Record<string, unknown> | null;
}

/**
 * The key as a client sends it: the `Idempotency-Key` header (HTTP) or `extensions.idempotencyKey`
 * (WebSocket). The IETF draft writes it as a quoted string (`"…"`): the quotes are not part of it.
 * Anything else is BAD_REQUEST.
 */
export function parseIdempotencyKey(value: unknown): string {
  const text = typeof value === 'string' ? (/^"(.*)"$/.exec(value)?.[1] ?? value) : undefined;
  if (text === undefined || !KEY_SHAPE.test(text)) {
    throw new AppError('BAD_REQUEST', 'Idempotency-Key must be 1 to 255 visible ASCII characters (no spaces or double quotes)');
  }
  return text;
}

/**
 * A mutation sent with a key, scoped to its caller: keys belong to a signed-in user in one tenant, so
 * two users (or one user in two tenants) never share an answer. Session fields (`signUp`, `login`, …)
 * and mutations outside a tenant have no such scope: a key there would protect nothing, so it is
 * refused (BAD_REQUEST) rather than silently ignored.
 */
export function idempotentRequest(identity: RequestIdentity, key: string, operation: KeyedOperation, sessionField: boolean): IdempotentRequest {
  if (sessionField || !identity.principal || !identity.tenantId || identity.tenantError) {
    throw new AppError('BAD_REQUEST', 'Idempotency-Key applies to mutations of a signed-in user in a tenant (not to signUp, login, refreshToken, logout or platform mutations)');
  }
  // Variables in a canonical key order: a client that rebuilds the same request compares equal.
  const canonical = stringify([operation.source, operation.operationName ?? null, operation.variables ?? {}]);
  return { tenantId: identity.tenantId, userId: identity.principal.userId, key, hash: createHash('sha256').update(canonical).digest() };
}
