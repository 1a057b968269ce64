import type { EntityManager } from '@mikro-orm/postgresql';
import { batchOf } from '../db/pgClient.js';

interface PendingRead {
  readonly sql: string;
  readonly params: readonly unknown[];
  resolve(rows: Record<string, unknown>[]): void;
  reject(err: unknown): void;
}

/** The reads of a unit of work (its EntityManager) issued in this turn of the event loop, not sent yet. */
const pendingReads = new WeakMap<EntityManager, PendingRead[]>();

/**
 * Sends a template read, together with every other one its unit of work issues in the same turn: the
 * reads a page preloads side by side (its orders' customers and lines, dispatched by their loaders in
 * one tick) reach Postgres as one message (`batchOf`), one round trip instead of one each. Kysely runs
 * a transaction's statements one after another, each waiting for the previous one's answer, so two
 * reads issued together would otherwise cost two round trips. A read issued alone goes alone, in the
 * same turn. If the message fails, every read in it fails with its error, as each would have on a
 * transaction the first one's failure had ended. Postgres times a simple-query message as one
 * statement: `statement_timeout` bounds the reads of a message together.
 */
export function sendRead(em: EntityManager, sql: string, params: readonly unknown[]): Promise<Record<string, unknown>[]> {
  return new Promise((resolve, reject) => {
    let reads = pendingReads.get(em);
    if (!reads) {
      pendingReads.set(em, (reads = []));
      // A tick runs once the microtasks of this turn have: by then every read issued with this one is queued.
      process.nextTick(() => void sendPendingReads(em));
    }
    reads.push({ sql, params, resolve, reject });
  });
}

async function sendPendingReads(em: EntityManager): Promise<void> {
  const reads = pendingReads.get(em)!;
  pendingReads.delete(em);
  const connection = em.getConnection('write');
  try {
    if (reads.length === 1) {
      reads[0].resolve(await connection.execute<Record<string, unknown>[]>(reads[0].sql, reads[0].params, 'all', em.getTransactionContext()));
      return;
    }
    const answers = await connection.execute<Record<string, unknown>[][]>(
      batchOf(reads.map((r) => r.sql)),
      reads.flatMap((r) => r.params),
      'all',
      em.getTransactionContext(),
    );
    reads.forEach((read, i) => read.resolve(answers[i]));
  } catch (err) {
    for (const read of reads) read.reject(err);
  }
}
