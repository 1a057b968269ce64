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
 * What the act may add to its audit event once it knows it: the actor that a lookup found (a
 * superadmin's login or refresh only learns who acts from the row it reads).
 */
export interface AuditRecord {
  actorId?: string | null;
}

/**
 * THE escape hatch: the only code path that crosses tenants or reaches platform rows (tenant null). It
 * lifts the tenant filter (platform scope) *and* takes the RLS bypass role with `SET LOCAL ROLE` for
 * exactly one transaction, in which it also writes the audit event. A test scans src/ and fails on any
 * other filter switch or role change.
 */
export function asPlatform<T>(orm: Orm, act: PlatformAct, fn: (em: EntityManager, audit: AuditRecord) => Promise<T>): Promise<T> {
  const em = orm.em.fork({ clear: true }) as EntityManager;
  em.setSessionContext({ role: PLATFORM_ROLE });
  return runInScope({ kind: 'platform', reason: act.action }, () =>
    em.transactional(async (tx) => {
      const event = tx.create(AuditEvent, {
        action: act.action,
        actorId: act.actorId ?? null,
        tenantId: act.tenantId ?? null,
        target: act.target ?? null,
      });
      const result = await fn(tx, event);
      await tx.flush();
      return result;
    }),
  );
}
