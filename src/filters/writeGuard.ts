import { ChangeSetType, type EntityMetadata, type EventSubscriber, type FlushEventArgs, helper } from '@mikro-orm/core';
import { currentScope, TenantScopeMissingError } from './scope.js';
import { TENANT_FILTER, type TenantFilterDef } from './tenantFilter.js';

export class TenantWriteRefusedError extends Error {
  constructor(reason: string) {
    super(`Tenant write refused: ${reason}`);
    this.name = 'TenantWriteRefusedError';
  }
}

/**
 * Refuses unit-of-work writes that the read filter cannot see: a flush has no WHERE clause for the
 * filter to extend, so an entity obtained by `getReference` or created with a foreign tenant would
 * otherwise be written as is. It checks every change set of an entity carrying the tenant filter
 * (tenant-owned rows, and users, domains, refresh tokens, audit events) before any SQL runs. A row
 * whose tenant is null (a platform row) belongs to no tenant: only the platform scope may write it.
 * Native queries (`nativeUpdate`, QueryBuilder, raw SQL) never reach it: RLS covers those.
 */
export class TenantWriteGuard implements EventSubscriber {
  onFlush({ uow }: FlushEventArgs): void {
    for (const cs of uow.getChangeSets()) {
      const property = tenantPropertyOf(cs.meta);
      if (!property) continue;
      const scope = currentScope();
      const what = `${cs.type} of ${cs.meta.className}`;
      if (!scope) throw new TenantScopeMissingError(what);

      const wrapped = helper(cs.entity);
      if (cs.type !== ChangeSetType.CREATE && !wrapped.isInitialized()) {
        throw new TenantWriteRefusedError(`${what} through an uninitialized reference`);
      }
      const tenantId = tenantIdOf((cs.entity as Record<string, unknown>)[property]);
      const original = cs.originalEntity?.[property] as unknown;
      if (cs.type === ChangeSetType.UPDATE && original !== undefined && tenantIdOf(original) !== tenantId) {
        throw new TenantWriteRefusedError(`${what} moves a row to another tenant`);
      }
      if (scope.kind === 'tenant' && tenantId !== scope.tenantId) {
        throw new TenantWriteRefusedError(`${what} belongs to ${tenantId === null ? 'the platform' : 'another tenant'}`);
      }
    }
  }
}

function tenantPropertyOf(meta: EntityMetadata): TenantFilterDef['tenantProperty'] | undefined {
  return (meta.filters?.[TENANT_FILTER] as TenantFilterDef | undefined)?.tenantProperty;
}

/**
 * The tenant id a property value stands for: a reference or entity (its `id`), a primary key as stored
 * in `originalEntity` (a composite key is an array, tenant first), a plain uuid, or null.
 */
function tenantIdOf(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (Array.isArray(value)) return tenantIdOf(value[0]);
  if (typeof value === 'object') return (value as { id?: string }).id ?? null;
  return value as string;
}
