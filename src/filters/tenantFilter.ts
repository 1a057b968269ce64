import type { FilterDef } from '@mikro-orm/core';
import { currentScope, TenantScopeMissingError } from './scope.js';

export const TENANT_FILTER = 'tenant';

/**
 * Layer one of tenant isolation: every query on a `TenantScoped` entity gets `tenant_id = <scope>`.
 *
 * On by default and reading the scope from AsyncLocalStorage, so no call site can forget it. With no
 * scope the query throws (fail closed) instead of returning every tenant's rows. Only a platform
 * scope, which `asPlatform` alone creates, lifts it.
 */
export const tenantFilter: FilterDef = {
  name: TENANT_FILTER,
  default: true,
  // The tenant comes from the scope, not from filter params.
  args: false,
  cond: (_args, type, _em, _options, entityName) => {
    const scope = currentScope();
    if (!scope) throw new TenantScopeMissingError(`${type} of ${entityName ?? 'a tenant-owned entity'}`);
    return scope.kind === 'platform' ? {} : { tenant: scope.tenantId };
  },
};
