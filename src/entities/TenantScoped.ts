import { PrimaryKeyProp, type Ref, ref } from '@mikro-orm/core';
import { Filter, ManyToOne, PrimaryKey } from '@mikro-orm/decorators/legacy';
import { randomUUID } from 'node:crypto';
import { requireScopedTenantId } from '../filters/scope.js';
import { tenantFilter } from '../filters/tenantFilter.js';
import { Tenant } from './Tenant.js';

/**
 * Base class of every tenant-owned entity.
 *
 * - Primary key `(tenant_id, id)`: Citus-ready, and a row can only ever reference rows of its own tenant
 *   because relations reuse this `tenant_id` column in composite foreign keys.
 * - The tenant filter (src/filters/tenantFilter.ts) scopes every read, update and delete.
 * - `tenant` is stamped on create from the current tenant scope; the write guard
 *   (src/filters/writeGuard.ts) refuses any other tenant, and RLS refuses whatever slips past both.
 */
@Filter(tenantFilter)
export abstract class TenantScoped {
  [PrimaryKeyProp]?: ['tenant', 'id'];

  @ManyToOne(() => Tenant, {
    primary: true,
    ref: true,
    deleteRule: 'cascade',
    updateRule: 'no action',
    onCreate: () => ref(Tenant, requireScopedTenantId('create')),
  })
  tenant!: Ref<Tenant>;

  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();
}
