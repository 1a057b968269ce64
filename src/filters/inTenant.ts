import type { TransactionOptions } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { runInScope } from './scope.js';
import type { Orm } from '../db/orm.js';
import { TENANT_SETTING } from '../db/roles.js';

/** A transaction-local setting, so a pooled connection forgets it at commit or rollback. */
const SET_TENANT = `select set_config('${TENANT_SETTING}', ?, true)`;

/**
 * One statement sent with the opening of a tenant's transaction, after the tenant setting, so that RLS
 * already applies to it. `?` placeholders, values in `params`.
 */
export interface OpeningRead {
  readonly sql: string;
  readonly params: readonly unknown[];
}

export type Row = Record<string, unknown>;

/**
 * Runs `fn` as one unit of work inside one tenant: a fresh EntityManager, the tenant filter bound (via
 * the scope), and one transaction whose first statement is `set_config('app.tenant_id', id, true)`.
 * The setting is transaction-local, so the pooled connection forgets it at commit or rollback.
 *
 * `begin`, the setting and `options.opening` (when given) reach Postgres as one message, one round trip
 * (src/db/pgClient.ts carries `begin` with the next statement; a message of several statements answers
 * with the last one's rows): `fn` gets the opening read's rows, without a round trip of its own.
 * `options` can also make the transaction one consistent snapshot (an export: REPEATABLE READ, READ ONLY).
 */
export function inTenant<T>(orm: Orm, tenantId: string, fn: (em: EntityManager, opened: Row[]) => Promise<T>, options: InTenantOptions = {}): Promise<T> {
  const { opening, ...transaction } = options;
  const em = orm.em.fork({ clear: true }) as EntityManager;
  return runInScope({ kind: 'tenant', tenantId }, () =>
    em.transactional(async (tx) => {
      const rows = await tx.execute<Row[]>(opening ? `${SET_TENANT}; ${opening.sql}` : SET_TENANT, [tenantId, ...(opening?.params ?? [])]);
      return fn(tx, opening ? rows : []);
    }, transaction),
  );
}

export interface InTenantOptions extends Pick<TransactionOptions, 'isolationLevel' | 'readOnly'> {
  /** Read with the transaction's opening, in its first round trip. */
  readonly opening?: OpeningRead;
}
