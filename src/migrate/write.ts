import type { EntityManager } from '@mikro-orm/postgresql';
import type { Orm } from '../db/orm.js';
import { asPlatform, type PlatformAct } from '../filters/platform.js';
import { txQuery } from './sql.js';

/**
 * Every write of the migrator: one `asPlatform` transaction (platform scope, the platform role for
 * this transaction only, an audit event), committed with `synchronous_commit = off`.
 *
 * Asynchronous commit is safe here and is most of the migrator's speed on small tenants: a database
 * crash may lose the last few commits, but each loses its rows *and* the checkpoint recording them
 * together (they are one transaction), so the re-run copies them again: no gap, no duplicate. It
 * never affects what other sessions see or the order of commits.
 */
export function platformWrite<T>(orm: Orm, act: PlatformAct, fn: (em: EntityManager) => Promise<T>): Promise<T> {
  return asPlatform(orm, act, async (tx) => {
    await txQuery(tx, 'set local synchronous_commit = off');
    return fn(tx);
  });
}
