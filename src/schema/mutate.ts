import { ForeignKeyConstraintViolationException, UniqueConstraintViolationException } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { RequestContext } from '../context/requestContext.js';
import { conflict } from '../errors.js';

/**
 * Runs a mutation's writes atomically (a savepoint inside the request's transaction): it either
 * happens whole or not at all, even when a later statement fails. Constraint violations that mean
 * "already exists" / "still in use" become CONFLICT instead of an internal error.
 */
export function mutate<T>(ctx: RequestContext, fn: (em: EntityManager) => Promise<T>, conflicts: ConflictMessages = {}): Promise<T> {
  return withConflicts(() => ctx.em.transactional((em) => fn(em as EntityManager), { clear: true }), conflicts);
}

/** `run`, with the constraint violations of `conflicts` turned into CONFLICT (for writes in a transaction of their own). */
export async function withConflicts<T>(run: () => Promise<T>, conflicts: ConflictMessages = {}): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof UniqueConstraintViolationException) {
      const hit = Object.entries(conflicts.unique ?? {}).find(([constraint]) => err.message.includes(constraint));
      throw conflict(hit?.[1].message ?? 'Already exists', hit?.[1].field);
    }
    if (err instanceof ForeignKeyConstraintViolationException && conflicts.inUse) throw conflict(conflicts.inUse);
    throw err;
  }
}

export interface ConflictMessages {
  /** constraint name → message and field */
  readonly unique?: Record<string, { message: string; field?: string }>;
  readonly inUse?: string;
}
