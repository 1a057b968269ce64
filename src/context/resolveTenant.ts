import type { EntityManager } from '@mikro-orm/postgresql';
import type { Principal } from '../auth/accessToken.js';
import { isGone, Tenant } from '../entities/Tenant.js';
import { AppError } from '../errors.js';
import { classifyHost, hostFromHeader } from '../domains/hostnames.js';
import { namedTenantId, TENANT_OF_HOSTNAME } from './sql.js';

/** Where a request can name its tenant, besides its token. */
export interface TenantHints {
  /** `x-tenant-id` header (HTTP) or `connectionParams["x-tenant-id"]` (WebSocket): an id or a slug. */
  readonly header?: string;
  /** The `Host` the client connected to. */
  readonly host?: string;
}

/**
 * What the `x-tenant-id` header, else the Host, names, before anything is looked up: a tenant id, a
 * slug, or a custom hostname (found through a verified, active domain). A header that names nothing is
 * TENANT_NOT_FOUND; a Host that names nothing is ignored (`<slug>.<BASE_DOMAIN>` aside, see `tenantNamedBy`).
 */
export interface TenantName {
  readonly source: 'header' | 'host';
  readonly by: 'id' | 'slug' | 'hostname';
  /** As looked up: lower case. */
  readonly value: string;
  /** As the client sent it, for messages. */
  readonly text: string;
}

export interface TenantResolution {
  /**
   * The tenant the request acts in, by id. A token's tenant is taken as the token says: whether it
   * exists and is active, and whether a header or Host names the same one, is read in the first round
   * trip of the request's unit of work (src/context/currentState.ts), so deactivation applies to the
   * very next request, and a request costs no lookup before its transaction.
   */
  readonly tenantId: string | null;
  /** Why the request may not act in `tenantId` (or in any tenant), as far as known before its unit of work. */
  readonly error: AppError | null;
  /** With a token's tenant: what the header or Host names, checked against it as the unit of work opens. */
  readonly named: TenantName | null;
  /** With a token's tenant: a malformed header, raised as the unit of work opens (after the token's tenant is found to exist). */
  readonly namedError: AppError | null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** What an `x-tenant-id` can be: a uuid or a slug (checked before it reaches SQL). */
const TENANT_REF = /^[A-Za-z0-9-]{1,64}$/;

/**
 * The tenant of a request, by the contract's order: (1) the token's `tenantId`, (2) the `x-tenant-id`
 * header, (3) the Host: `<slug>.<baseDomain>` by the slug alone, any other name through a verified,
 * active domain (src/domains/hostnames.ts).
 *
 * A token that carries a tenant decides alone, with no lookup here: a header or host naming another
 * tenant is TENANT_MISMATCH, a header naming no tenant TENANT_NOT_FOUND, both found out in the unit of
 * work's first round trip. Superadmins and anonymous callers get the tenant named by (2) or (3), if any,
 * looked up here (its state, again, is read as its unit of work opens).
 */
export async function resolveTenant(forkEm: () => EntityManager, principal: Principal | null, hints: TenantHints, baseDomain: string): Promise<TenantResolution> {
  const named = tenantNameOf(hints, baseDomain);
  if (principal?.tenantId) {
    return named instanceof AppError
      ? { tenantId: principal.tenantId, error: null, named: null, namedError: named }
      : { tenantId: principal.tenantId, error: null, named, namedError: null };
  }
  const { tenant, error } = await tenantNamedBy(forkEm(), hints, baseDomain);
  return { tenantId: tenant?.id ?? null, error, named: null, namedError: null };
}

/** What the header, else the host, names; a malformed header is BAD_REQUEST; null when nothing is named. */
export function tenantNameOf(hints: TenantHints, baseDomain: string): TenantName | AppError | null {
  const header = hints.header?.trim();
  if (header && !TENANT_REF.test(header)) return new AppError('BAD_REQUEST', 'Malformed x-tenant-id: a tenant id or slug');
  if (header) return { source: 'header', by: UUID.test(header) ? 'id' : 'slug', value: header.toLowerCase(), text: header };
  const host = hostFromHeader(hints.host);
  if (!host) return null;
  const rule = classifyHost(host, baseDomain);
  if (rule.kind === 'custom') return { source: 'host', by: 'hostname', value: host, text: host };
  if (rule.kind === 'local' || !rule.slug) return null;
  return { source: 'host', by: 'slug', value: rule.slug, text: rule.slug };
}

/**
 * The tenant the header, else the host, names: a header that names nothing is an error, and so is a
 * `<slug>.<BASE_DOMAIN>` host; any other host that names nothing is not.
 */
export async function tenantNamedBy(em: EntityManager, hints: TenantHints, baseDomain: string): Promise<{ tenant: Tenant | null; error: AppError | null }> {
  const named = tenantNameOf(hints, baseDomain);
  if (named instanceof AppError) return { tenant: null, error: named };
  if (!named) return { tenant: null, error: null };
  if (named.by === 'hostname') return { tenant: existing(await tenantOfVerifiedDomain(em, named.value)), error: null };
  const tenant = existing(await em.findOne(Tenant, { [named.by]: named.value }));
  return tenant ? { tenant, error: null } : { tenant: null, error: new AppError('TENANT_NOT_FOUND', `No tenant "${named.text}"`) };
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
  const [row] = await em.execute<Record<string, unknown>[]>(TENANT_OF_HOSTNAME, [hostname]);
  return row ? em.map(Tenant, row) : null;
}

/**
 * The id of the tenant `named` names, as one SQL expression with its parameter: null when it names none
 * (or a tenant being or having been erased, as `existing` says).
 */
export function namedTenantIdSql(named: TenantName): { sql: string; params: unknown[] } {
  return { sql: namedTenantId(named.by), params: [named.value] };
}

/** The tenant an id or slug names (`x-tenant-id`, `login`'s `tenant`); none when it is being or has been erased. */
export async function findTenantByIdOrSlug(em: EntityManager, idOrSlug: string): Promise<Tenant | null> {
  return existing(await em.findOne(Tenant, UUID.test(idOrSlug) ? { id: idOrSlug.toLowerCase() } : { slug: idOrSlug.toLowerCase() }));
}

/** The tenant, unless it is being or has been erased: then it names nothing (its hostnames stop resolving). */
function existing(tenant: Tenant | null): Tenant | null {
  return tenant && !isGone(tenant.status) ? tenant : null;
}
