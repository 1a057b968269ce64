import { HOST_LOOKUP_FUNCTION } from '../db/roles.js';
import { TenantStatus } from '../entities/Tenant.js';

/**
 * The SQL that decides a request's tenant and reads its current state. `?` placeholders (MikroORM's
 * `em.execute`). The tenant table is shared (no RLS); `domain` is under RLS, so a hostname goes through
 * the host lookup function (SECURITY DEFINER, see the TenantTaggedTables migration), which answers with
 * a tenant id and nothing else.
 */

/** The whole row of the tenant that verified a hostname. Params: hostname. */
export const TENANT_OF_HOSTNAME = `select t.* from tenant t where t.id = ${HOST_LOOKUP_FUNCTION}(?)`;

/**
 * The id of the tenant an id, a slug or a hostname names, as one SQL expression: null when it names
 * none, or a tenant being or having been erased. Params: the name.
 */
export function namedTenantId(by: 'id' | 'slug' | 'hostname'): string {
  const lookup = by === 'hostname' ? `id = ${HOST_LOOKUP_FUNCTION}(?)` : `${by} = ?`;
  return `(select id from tenant where ${lookup} and status not in ('${TenantStatus.DELETING}', '${TenantStatus.DELETED}'))`;
}

/**
 * A unit of work's opening read: the tenant's row, its user's current role and active flag, and the id
 * of the tenant a header or Host names (`named`: an expression such as `namedTenantId`'s, or
 * `null::uuid`). Params: `named`'s, the caller's user id (null for none), the tenant's id.
 */
export function openingRead(named: string): string {
  return `select t.*, u.role as caller_role, u.is_active as caller_active, ${named} as named_tenant_id
            from tenant t left join "user" u on u.tenant_id = t.id and u.id = ?::uuid
           where t.id = ?`;
}
