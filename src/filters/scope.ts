import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * What the current unit of work may touch.
 *
 * - `tenant`: one tenant's rows only. The MikroORM filter, the write guard and RLS all read this.
 * - `platform`: every tenant's rows. Only `asPlatform` (src/filters/platform.ts) creates it, so every
 *   cross-tenant act has one entry point that is audited.
 */
export type TenantScope =
  | { readonly kind: 'tenant'; readonly tenantId: string }
  | { readonly kind: 'platform'; readonly reason: string };

/** Raised when tenant-owned data is touched with no scope at all: we fail closed, never unscoped. */
export class TenantScopeMissingError extends Error {
  constructor(what: string) {
    super(`No tenant scope for ${what}: tenant-owned data needs a tenant (or asPlatform)`);
    this.name = 'TenantScopeMissingError';
  }
}

const storage = new AsyncLocalStorage<TenantScope>();

export function runInScope<T>(scope: TenantScope, fn: () => T): T {
  return storage.run(scope, fn);
}

export function currentScope(): TenantScope | undefined {
  return storage.getStore();
}

/** The tenant id of the current scope; throws outside a tenant scope. */
export function requireScopedTenantId(what: string): string {
  const scope = storage.getStore();
  if (scope?.kind !== 'tenant') throw new TenantScopeMissingError(what);
  return scope.tenantId;
}
