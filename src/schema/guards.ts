import { type DocumentNode, Kind, type OperationDefinitionNode } from 'graphql';
import type { Principal } from '../auth/accessToken.js';
import type { RequestContext } from '../context/requestContext.js';
import { AuditEvent } from '../entities/AuditEvent.js';
import { TenantStatus, type Tenant } from '../entities/Tenant.js';
import { Role } from '../entities/User.js';
import { AppError, forbidden, unauthenticated } from '../errors.js';

/** Root field names of an operation, through fragments. */
export function rootFieldNames(document: DocumentNode, operation: OperationDefinitionNode): string[] {
  const fragments = new Map(document.definitions.flatMap((d) => (d.kind === Kind.FRAGMENT_DEFINITION ? [[d.name.value, d] as const] : [])));
  const names: string[] = [];
  const visit = (set: OperationDefinitionNode['selectionSet'], seen: Set<string>) => {
    for (const s of set.selections) {
      if (s.kind === Kind.FIELD) names.push(s.name.value);
      else if (s.kind === Kind.INLINE_FRAGMENT) visit(s.selectionSet, seen);
      else if (!seen.has(s.name.value) && fragments.has(s.name.value)) visit(fragments.get(s.name.value)!.selectionSet, new Set(seen).add(s.name.value));
    }
  };
  visit(operation.selectionSet, new Set());
  return names;
}

/** Root fields that ignore the caller's token and tenant headers: how a client gets a (new) token. */
const PUBLIC_ROOT_FIELDS = new Set(['signUp', 'login', 'refreshToken', 'logout', '__typename']);

/**
 * Request-level checks, before any resolver: a bad token or a tenant the caller may not act in fails
 * the whole operation (HTTP status from the code), unless it only asks for public fields. A superadmin
 * working inside a tenant is audited here, once per operation.
 */
export async function guardOperation(ctx: RequestContext, rootFields: readonly string[], operationName: string | undefined): Promise<void> {
  if (rootFields.every((f) => PUBLIC_ROOT_FIELDS.has(f))) return;
  if (ctx.authError) throw ctx.authError;
  if (ctx.tenantError) throw ctx.tenantError;
  if (ctx.principal?.role === Role.SUPERADMIN && ctx.tenant) {
    ctx.em.create(AuditEvent, {
      action: 'superadmin.tenantAccess',
      actorId: ctx.principal.userId,
      tenantId: ctx.tenant.id,
      target: operationName ?? rootFields.join(','),
    });
    await ctx.em.flush();
  }
}

export function requireUser(ctx: RequestContext): Principal {
  if (!ctx.principal) throw ctx.authError ?? unauthenticated();
  return ctx.principal;
}

/** The request's tenant, in any status (for `currentTenant`, `me`, the status subscription). */
export function requireTenant(ctx: RequestContext): Tenant {
  requireUser(ctx);
  if (!ctx.tenant) throw new AppError('TENANT_REQUIRED', 'This operation needs a tenant: send x-tenant-id or use a tenant host');
  return ctx.tenant;
}

/** Products, customers, orders, users: a user, a tenant, and that tenant READY. */
export function requireTenantData(ctx: RequestContext, role: Role = Role.MEMBER): Tenant {
  const tenant = requireTenant(ctx);
  if (tenant.status !== TenantStatus.READY) {
    throw new AppError('TENANT_NOT_READY', `The tenant is ${tenant.status}, not READY yet`, { status: tenant.status });
  }
  requireRole(ctx, role);
  return tenant;
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
