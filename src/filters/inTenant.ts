import type { TransactionOptions } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { runInScope } from './scope.js';
import type { Orm } from '../db/orm.js';
import { TENANT_SETTING } from '../db/roles.js';

/**
 * Runs `fn` as one unit of work inside one tenant: a fresh EntityManager, the tenant filter bound (via
 * the scope), and one transaction whose first act is `set_config('app.tenant_id', id, true)`. The
 * setting is transaction-local, so the pooled connection forgets it at commit or rollback, and RLS
 * costs one round trip per unit of work instead of three per query. `options` can make the transaction
 * one consistent snapshot (an export: REPEATABLE READ, READ ONLY).
 */
export function inTenant<T>(
  orm: Orm,
  tenantId: string,
  fn: (em: EntityManager) => Promise<T>,
  options: Pick<TransactionOptions, 'isolationLevel' | 'readOnly'> = {},
): Promise<T> {
  const em = orm.em.fork({ clear: true }) as EntityManager;
  em.setSessionContext({ variables: { [TENANT_SETTING]: tenantId } });
  return runInScope({ kind: 'tenant', tenantId }, () => em.transactional((tx) => fn(tx), options));
}
