import type { Principal } from '../auth/accessToken.js';
import type { RequestContext, RequestIdentity } from '../context/requestContext.js';
import { AuditEvent } from '../entities/AuditEvent.js';
import { TenantStatus, type Tenant } from '../entities/Tenant.js';
import { Role } from '../entities/User.js';
import { AppError, forbidden, unauthenticated } from '../errors.js';
import { SESSION_FIELDS } from './limits.js';

/**
 * Request-level checks, before any resolver and before the unit of work: a bad token or a tenant the
 * caller may not act in fails the whole operation (HTTP status from the code), unless it only asks for
 * session fields (signUp, login, refreshToken, logout), which must work whatever stale token or header
 * a client still sends.
 */
export function admitCaller(identity: RequestIdentity, rootFields: Iterable<string>): void {
  if ([...rootFields].every((f) => f === '__typename' || SESSION_FIELDS.has(f))) return;
  if (identity.authError) throw identity.authError;
  if (identity.tenantError) throw identity.tenantError;
}

/** A superadmin working inside a tenant is audited, once per operation, in the operation's own transaction. */
export async function auditSuperadminAccess(ctx: RequestContext, operationName: string): Promise<void> {
  if (ctx.principal?.role !== Role.SUPERADMIN || !ctx.tenantStatus) return;
  ctx.em.create(AuditEvent, { action: 'superadmin.tenantAccess', actorId: ctx.principal.userId, tenantId: ctx.tenantId!, target: operationName });
  await ctx.em.flush();
}

export function requireUser(ctx: RequestContext): Principal {
  if (!ctx.principal) throw ctx.authError ?? unauthenticated();
  return ctx.principal;
}

/** The request's tenant, in any status (for `currentTenant`, `me`, the status subscription). */
export function requireTenant(ctx: RequestContext): Tenant {
  requireTenantStatus(ctx);
  return ctx.tenant!;
}

/** A user and a tenant: the tenant's status (read without mapping the tenant's entity). */
function requireTenantStatus(ctx: RequestContext): TenantStatus {
  requireUser(ctx);
  if (!ctx.tenantStatus) throw new AppError('TENANT_REQUIRED', 'This operation needs a tenant: send x-tenant-id or use a tenant host');
  return ctx.tenantStatus;
}

/**
 * Products, customers, orders, users: a user, a tenant, and that tenant READY. Returns the tenant's id;
 * reads only its status (the entity is mapped only when read: `RequestContext.tenant`).
 */
export function requireTenantData(ctx: RequestContext, role: Role = Role.MEMBER): string {
  const status = requireTenantStatus(ctx);
  if (status !== TenantStatus.READY) throw new AppError('TENANT_NOT_READY', `The tenant is ${status}, not READY yet`, { status });
  requireRole(ctx, role);
  return ctx.tenantId!;
}

const RANK: Record<Role, number> = { [Role.MEMBER]: 1, [Role.ADMIN]: 2, [Role.SUPERADMIN]: 3 };

export function requireRole(ctx: RequestContext, role: Role): Principal {
  const principal = requireUser(ctx);
  if (RANK[principal.role] < RANK[role]) throw forbidden(`This needs the ${role} role`);
  return principal;
}

export function requireSuperadmin(ctx: { principal: Principal | null; authError: AppError | null }): Principal {
  if (!ctx.principal) throw ctx.authError ?? unauthenticated();
  if (ctx.principal.role !== Role.SUPERADMIN) throw forbidden('Superadmins only');
  return ctx.principal;
}
