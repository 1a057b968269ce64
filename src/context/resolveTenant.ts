import type { EntityManager } from '@mikro-orm/postgresql';
import type { Principal } from '../auth/accessToken.js';
import { HOST_LOOKUP_FUNCTION } from '../db/roles.js';
import { Tenant } from '../entities/Tenant.js';
import { AppError } from '../errors.js';
import { isReservedSlug } from '../schema/validation.js';

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
 * header, (3) the Host (an active domain's hostname, else `<slug>.<baseDomain>`).
 *
 * A token that carries a tenant decides alone; a header or host naming another tenant is
 * TENANT_MISMATCH, a header naming no tenant TENANT_NOT_FOUND. Superadmins and anonymous callers get
 * the tenant named by (2) or (3), if any.
 */
export async function resolveTenant(em: EntityManager, principal: Principal | null, hints: TenantHints, baseDomain: string): Promise<TenantResolution> {
  const named = await tenantNamedBy(em, hints, baseDomain);

  if (principal?.tenantId) {
    const tenant = await em.findOne(Tenant, principal.tenantId);
    if (!tenant) return { tenant: null, error: new AppError('UNAUTHENTICATED', 'The token names no tenant that exists') };
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
  const host = hostname(hints.host);
  if (!host || isIp(host)) return { tenant: null, error: null };

  const byDomain = await tenantOfHostname(em, host);
  if (byDomain) return { tenant: byDomain, error: null };

  const suffix = `.${baseDomain}`;
  if (!host.endsWith(suffix)) return { tenant: null, error: null };
  const slug = host.slice(0, -suffix.length);
  if (slug.includes('.') || isReservedSlug(slug)) return { tenant: null, error: null };
  const tenant = await em.findOne(Tenant, { slug });
  return tenant ? { tenant, error: null } : { tenant: null, error: new AppError('TENANT_NOT_FOUND', `No tenant "${slug}"`) };
}

/**
 * The tenant an active domain's hostname belongs to. `domain` is under RLS and no tenant is known yet,
 * so the hostname goes to the database's host lookup function (SECURITY DEFINER, owned by a role that
 * may read only active domains' hostname and tenant; see the TenantTaggedTables migration), which
 * answers with a tenant id and nothing else: no escape hatch, no audit event per anonymous request.
 * One round trip: the tenant row (a shared table) is read in the same statement.
 */
async function tenantOfHostname(em: EntityManager, host: string): Promise<Tenant | null> {
  const [row] = await em.execute<Record<string, unknown>[]>(`select t.* from tenant t where t.id = ${HOST_LOOKUP_FUNCTION}(?)`, [host]);
  return row ? em.map(Tenant, row) : null;
}

export function findTenantByIdOrSlug(em: EntityManager, idOrSlug: string): Promise<Tenant | null> {
  return em.findOne(Tenant, UUID.test(idOrSlug) ? { id: idOrSlug.toLowerCase() } : { slug: idOrSlug.toLowerCase() });
}

/** `Host` without its port; IPv6 literals keep their brackets. */
function hostname(host: string | undefined): string | undefined {
  return host?.trim().toLowerCase().replace(/:\d+$/, '') || undefined;
}

/** An IP literal names no tenant (clients inside the network, health checks, tests). */
function isIp(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.startsWith('[');
}

function inactive(tenant: Tenant): AppError | null {
  return tenant.isActive ? null : new AppError('TENANT_INACTIVE', 'This tenant has been deactivated');
}
