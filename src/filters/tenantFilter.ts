import type { FilterDef } from '@mikro-orm/core';
import { currentScope, TenantScopeMissingError } from './scope.js';

export const TENANT_FILTER = 'tenant';

/**
 * Where an entity keeps its tenant: the `tenant` relation, except on AuditEvent, whose `tenantId` is a
 * plain uuid (no foreign key: events outlive what they name).
 */
export type TenantProperty = 'tenant' | 'tenantId';

/** The tenant filter of one entity, with the property it keys on (the write guard reads it too). */
export type TenantFilterDef = FilterDef & { readonly tenantProperty: TenantProperty };

/**
 * Layer one of tenant isolation: every query on an entity carrying this filter gets
 * `<tenant property> = <scope>`.
 *
 * On by default and reading the scope from AsyncLocalStorage, so no call site can forget it. With no
 * scope the query throws (fail closed) instead of returning every tenant's rows. Only a platform
 * scope, which `asPlatform` alone creates, lifts it. Where the tenant may be null (superadmins, their
 * refresh tokens, platform audit events) the same condition serves: a null tenant equals no tenant, so
 * such rows are reachable in the platform scope only.
 */
export function tenantFilterOn(tenantProperty: TenantProperty): TenantFilterDef {
  return {
    name: TENANT_FILTER,
    default: true,
    // The tenant comes from the scope, not from filter params.
    args: false,
    tenantProperty,
    cond: (_args, type, _em, _options, entityName) => {
      const scope = currentScope();
      if (!scope) throw new TenantScopeMissingError(`${type} of ${entityName ?? 'a tenant-owned entity'}`);
      return scope.kind === 'platform' ? {} : { [tenantProperty]: scope.tenantId };
    },
  };
}

/** The filter of every entity whose tenant is its `tenant` relation (TenantScoped, User, Domain, RefreshToken). */
export const tenantFilter = tenantFilterOn('tenant');
