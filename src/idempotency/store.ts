import type { EntityManager } from '@mikro-orm/postgresql';
import type { FormattedExecutionResult } from 'graphql';
import { AppError, hasAnyData } from '../errors.js';
import { txQuery } from '../migrate/sql.js';
import type { IdempotentRequest } from './keys.js';
import { FIND_ANSWER, KEY_LOCK_SPACE, LOCK_KEY, SAVE_ANSWER } from './sql.js';

/** `extensions.reason` of the CONFLICT for a key sent again with another request. */
export const KEY_REUSED = 'IDEMPOTENCY_KEY_REUSED';

export interface Answer {
  readonly result: FormattedExecutionResult;
  /** The stored answer of an earlier request with the same key and body. */
  readonly replayed: boolean;
}

/**
 * Runs `execute` at most once per key, inside the unit of work's transaction `em`:
 *
 * 1. the key's advisory lock: a concurrent duplicate waits here until the first one's transaction ends;
 * 2. a live stored answer is replayed when the request hashes the same, and CONFLICT when it does not
 *    (`extensions.reason` IDEMPOTENCY_KEY_REUSED);
 * 3. otherwise `execute` runs, and an answer that carries data is stored in the same transaction as the
 *    mutation's writes. A process killed after the commit leaves the answer to replay, never a write
 *    without one. An answer without data (every mutation failed, so nothing was written) is not stored:
 *    retrying it runs it again, as does a retry after a rollback or a crash before the commit.
 */
export async function runOnce(em: EntityManager, request: IdempotentRequest, execute: () => Promise<FormattedExecutionResult>): Promise<Answer> {
  const scope = [request.tenantId, request.userId, request.key];
  await txQuery(em, LOCK_KEY, [KEY_LOCK_SPACE, ...scope]);
  const [stored] = (await txQuery<{ request_hash: Buffer; response: string }>(em, FIND_ANSWER, scope)).rows;
  if (stored) {
    if (!stored.request_hash.equals(request.hash)) {
      throw new AppError('CONFLICT', 'This Idempotency-Key was used for another request: use a new key for a new request', { reason: KEY_REUSED });
    }
    return { result: JSON.parse(stored.response) as FormattedExecutionResult, replayed: true };
  }
  const result = await execute();
  if (hasAnyData(result.data)) await txQuery(em, SAVE_ANSWER, [...scope, request.hash, JSON.stringify(result)]);
  return { result, replayed: false };
}
