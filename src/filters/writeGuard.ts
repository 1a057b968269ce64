import { ChangeSetType, type EventSubscriber, type FlushEventArgs, helper } from '@mikro-orm/core';
import { currentScope, TenantScopeMissingError } from './scope.js';
import { TenantScoped } from '../entities/TenantScoped.js';

export class TenantWriteRefusedError extends Error {
  constructor(reason: string) {
    super(`Tenant write refused: ${reason}`);
    this.name = 'TenantWriteRefusedError';
  }
}

/**
 * Refuses unit-of-work writes that the read filter cannot see: a flush has no WHERE clause for the
 * filter to extend, so an entity obtained by `getReference` or created with a foreign tenant would
 * otherwise be written as is. It checks every change set of a `TenantScoped` entity before any SQL runs.
 * Native queries (`nativeUpdate`, QueryBuilder, raw SQL) never reach it: RLS covers those.
 */
export class TenantWriteGuard implements EventSubscriber {
  onFlush({ uow }: FlushEventArgs): void {
    for (const cs of uow.getChangeSets()) {
      if (!(cs.entity instanceof TenantScoped)) continue;
      const scope = currentScope();
      const what = `${cs.type} of ${cs.meta.className}`;
      if (!scope) throw new TenantScopeMissingError(what);

      const wrapped = helper(cs.entity);
      if (cs.type !== ChangeSetType.CREATE && !wrapped.isInitialized()) {
        throw new TenantWriteRefusedError(`${what} through an uninitialized reference`);
      }
      const original = cs.originalEntity?.tenant as unknown;
      const tenantId = cs.entity.tenant?.id;
      if (cs.type === ChangeSetType.UPDATE && original !== undefined && primaryOf(original) !== tenantId) {
        throw new TenantWriteRefusedError(`${what} moves a row to another tenant`);
      }
      if (scope.kind === 'tenant' && tenantId !== scope.tenantId) {
        throw new TenantWriteRefusedError(`${what} belongs to another tenant`);
      }
    }
  }
}

/** A relation in `originalEntity` is stored as its primary key (or an array for composite keys). */
function primaryOf(value: unknown): unknown {
  return Array.isArray(value) ? value[0] : value;
}
