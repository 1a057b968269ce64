import type { EntityManager } from '@mikro-orm/postgresql';
import { runInScope } from './scope.js';
import type { Orm } from '../db/orm.js';
import { PLATFORM_ROLE } from '../db/roles.js';
import { AuditEvent } from '../entities/AuditEvent.js';

/** Why the platform crosses tenants; written to the audit log. */
export interface PlatformAct {
  /** What is done, e.g. `tenant.report`, `tenant.setActive`, `migrate.copy`. */
  readonly action: string;
  readonly actorId?: string | null;
  /** The tenant acted on, when there is one. */
  readonly tenantId?: string | null;
  readonly target?: string | null;
}

/**
 * THE escape hatch: the only code path that crosses tenants. It lifts the tenant filter (platform
 * scope) *and* takes the RLS bypass role with `SET LOCAL ROLE` for exactly one transaction, in which
 * it also writes the audit event. A test scans src/ and fails on any other filter switch or role change.
 */
export function asPlatform<T>(orm: Orm, act: PlatformAct, fn: (em: EntityManager) => Promise<T>): Promise<T> {
  const em = orm.em.fork({ clear: true }) as EntityManager;
  em.setSessionContext({ role: PLATFORM_ROLE });
  return runInScope({ kind: 'platform', reason: act.action }, () =>
    em.transactional(async (tx) => {
      tx.create(AuditEvent, {
        action: act.action,
        actorId: act.actorId ?? null,
        tenantId: act.tenantId ?? null,
        target: act.target ?? null,
      });
      const result = await fn(tx);
      await tx.flush();
      return result;
    }),
  );
}
