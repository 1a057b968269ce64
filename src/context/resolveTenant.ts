import type { EntityManager } from '@mikro-orm/postgresql';
import type { Principal } from '../auth/accessToken.js';
import { HOST_LOOKUP_FUNCTION } from '../db/roles.js';
import { isGone, Tenant } from '../entities/Tenant.js';
import { AppError } from '../errors.js';
import { classifyHost, hostFromHeader } from '../domains/hostnames.js';

/** Where a request can name its tenant, besides its token. */
export interface TenantHints {
  /** `x-tenant-id` header (HTTP) or `connectionParams["x-tenant-id"]` (WebSocket): an id or a slug. */
  readonly header?: string;
  /** The `Host` the client connected to. */
  readonly host?: string;
}

export interface TenantResolution {
  readonly tenant: Tenant | null;
  /** Why the request may not act in `tenant` (or in any tenant). Raised by the operation guard. */
  readonly error: AppError | null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** What an `x-tenant-id` can be: a uuid or a slug (checked before it reaches SQL). */
const TENANT_REF = /^[A-Za-z0-9-]{1,64}$/;

/**
 * The tenant of a request, by the contract's order: (1) the token's `tenantId`, (2) the `x-tenant-id`
 * header, (3) the Host: `<slug>.<baseDomain>` by the slug alone, any other name through a verified,
 * active domain (src/domains/hostnames.ts).
 *
 * A token that carries a tenant decides alone; a header or host naming another tenant is
 * TENANT_MISMATCH, a header naming no tenant TENANT_NOT_FOUND. Superadmins and anonymous callers get
 * the tenant named by (2) or (3), if any.
 */
export async function resolveTenant(em: EntityManager, principal: Principal | null, hints: TenantHints, baseDomain: string): Promise<TenantResolution> {
  const named = await tenantNamedBy(em, hints, baseDomain);

  if (principal?.tenantId) {
    const tenant = await em.findOne(Tenant, principal.tenantId);
    // A tenant being erased (DELETING) or erased (DELETED) is one that no longer exists.
    if (!tenant || isGone(tenant.status)) return { tenant: null, error: new AppError('UNAUTHENTICATED', 'The token names no tenant that exists') };
    // A header naming no tenant is TENANT_NOT_FOUND whoever sends it ("Unknown tenant"); an unknown host is ignored.
    if (named.error && hints.header) return { tenant: null, error: named.error };
    if (named.tenant && named.tenant.id !== tenant.id) {
      return { tenant: null, error: new AppError('TENANT_MISMATCH', 'This token belongs to another tenant') };
    }
    return { tenant, error: inactive(tenant) };
  }
  if (named.error) return named;
  return { tenant: named.tenant, error: named.tenant ? inactive(named.tenant) : null };
}

/** The tenant the header, else the host, names: a header that names nothing is an error, a host is not. */
export async function tenantNamedBy(em: EntityManager, hints: TenantHints, baseDomain: string): Promise<TenantResolution> {
  const header = hints.header?.trim();
  if (header && !TENANT_REF.test(header)) return { tenant: null, error: new AppError('BAD_REQUEST', 'Malformed x-tenant-id: a tenant id or slug') };
  if (header) {
    const tenant = await findTenantByIdOrSlug(em, header);
    return tenant ? { tenant, error: null } : { tenant: null, error: new AppError('TENANT_NOT_FOUND', `No tenant "${header}"`) };
  }
  const host = hostFromHeader(hints.host);
  if (!host) return { tenant: null, error: null };
  const rule = classifyHost(host, baseDomain);
  if (rule.kind === 'custom') return { tenant: existing(await tenantOfVerifiedDomain(em, host)), error: null };
  if (rule.kind === 'local' || !rule.slug) return { tenant: null, error: null };
  const tenant = existing(await em.findOne(Tenant, { slug: rule.slug }));
  return tenant ? { tenant, error: null } : { tenant: null, error: new AppError('TENANT_NOT_FOUND', `No tenant "${rule.slug}"`) };
}

/**
 * The tenant that verified `hostname` (unique among verified domains); claims still unverified route
 * nothing. `domain` is under RLS and no tenant is known yet, so the hostname goes to the database's host
 * lookup function (SECURITY DEFINER, owned by a role that may read only verified, active domains'
 * hostname and tenant; see the TenantTaggedTables migration), which answers with a tenant id and nothing
 * else: no escape hatch, no audit event per anonymous request. One round trip: the tenant row (a shared
 * table) is read in the same statement.
 */
async function tenantOfVerifiedDomain(em: EntityManager, hostname: string): Promise<Tenant | null> {
  const [row] = await em.execute<Record<string, unknown>[]>(`select t.* from tenant t where t.id = ${HOST_LOOKUP_FUNCTION}(?)`, [hostname]);
  return row ? em.map(Tenant, row) : null;
}

/** The tenant an id or slug names (`x-tenant-id`, `login`'s `tenant`); none when it is being or has been erased. */
export async function findTenantByIdOrSlug(em: EntityManager, idOrSlug: string): Promise<Tenant | null> {
  return existing(await em.findOne(Tenant, UUID.test(idOrSlug) ? { id: idOrSlug.toLowerCase() } : { slug: idOrSlug.toLowerCase() }));
}

/** The tenant, unless it is being or has been erased: then it names nothing (its hostnames stop resolving). */
function existing(tenant: Tenant | null): Tenant | null {
  return tenant && !isGone(tenant.status) ? tenant : null;
}

function inactive(tenant: Tenant): AppError | null {
  return tenant.isActive ? null : new AppError('TENANT_INACTIVE', 'This tenant has been deactivated');
}
