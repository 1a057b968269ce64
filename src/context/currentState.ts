import type { EntityManager } from '@mikro-orm/postgresql';
import type { Principal } from '../auth/accessToken.js';
import { isGone, Tenant, type TenantStatus } from '../entities/Tenant.js';
import type { Role } from '../entities/User.js';
import { AppError, unauthenticated } from '../errors.js';
import type { Orm } from '../db/orm.js';
import { inTenant, type OpeningRead, type Row } from '../filters/inTenant.js';
import { namedTenantIdSql, type TenantName } from './resolveTenant.js';
import { openingRead } from './sql.js';

/** What a unit of work needs to know about its request to read the request's current state. */
export interface StateQuestion {
  readonly tenantId: string;
  readonly principal: Principal | null;
  /** With a token's tenant: what the header or Host names besides it. */
  readonly named: TenantName | null;
  /** With a token's tenant: a malformed header. */
  readonly namedError: AppError | null;
}

/**
 * The request's tenant as its unit of work read it first: its status at once (every data resolver checks
 * it), its entity only when something asks for it (mapping the row into the EntityManager costs more
 * than most reads that follow it).
 */
export interface OpenedTenant {
  readonly status: TenantStatus;
  /** The tenant entity, mapped into the unit of work's EntityManager on each call: call it once. */
  entity(): Tenant;
}

/** The request's tenant and caller as they are at the start of its unit of work. */
export interface CurrentState {
  readonly tenant: OpenedTenant;
  /** The caller with their current role; null for anonymous callers. */
  readonly principal: Principal | null;
}

/**
 * The unit of work's opening read, sent with `begin` and the tenant setting in its first round trip
 * (`inTenant`): the tenant row as it is now, a tenant user's current role and active flag (the token's
 * role is not trusted alone), and the tenant a header or Host names besides the token's. One statement,
 * so a request costs no round trip for any of it.
 *
 * Raw SQL that names the tenant explicitly (`u.tenant_id = t.id`, `t.id = <the scope's tenant>`), with
 * RLS underneath (the setting is already in force): the user read is what the tenant filter would make
 * of `em.findOne(User, id)`. The tenant table is shared; the named tenant goes through the same lookups
 * as before a unit of work (`tenant` by id or slug, the host lookup function for custom hosts).
 */
export function currentStateRead(question: StateQuestion): OpeningRead {
  const named = question.named ? namedTenantIdSql(question.named) : { sql: 'null::uuid', params: [] };
  const user = question.principal?.tenantId ? question.principal.userId : null;
  return {
    sql: openingRead(named.sql),
    params: [...named.params, user, question.tenantId],
  };
}

/**
 * The request's tenant and caller from the opening read's rows, or the error the request fails with,
 * in the contract's order: the token's tenant no longer exists (UNAUTHENTICATED; a tenant a header
 * named: TENANT_NOT_FOUND), a malformed header (BAD_REQUEST) or one naming no tenant (TENANT_NOT_FOUND),
 * a header or Host naming another tenant (TENANT_MISMATCH), the tenant deactivated (TENANT_INACTIVE),
 * the caller deactivated or deleted (UNAUTHENTICATED). A demoted caller acts with their current role.
 * Superadmins are platform rows that no API demotes or deactivates: their token is taken as it is.
 */
export function currentState(em: EntityManager, question: StateQuestion, rows: Row[]): CurrentState {
  const row = present(rows);
  const { principal, named } = question;
  if (!row) {
    throw principal?.tenantId ? new AppError('UNAUTHENTICATED', 'The token names no tenant that exists') : new AppError('TENANT_NOT_FOUND', 'No such tenant');
  }
  if (question.namedError) throw question.namedError;
  const namedId = row.named_tenant_id as string | null;
  if (named?.source === 'header' && namedId === null) throw new AppError('TENANT_NOT_FOUND', `No tenant "${named.text}"`);
  if (namedId !== null && namedId !== question.tenantId) throw new AppError('TENANT_MISMATCH', 'This token belongs to another tenant');
  if (!row.is_active) throw new AppError('TENANT_INACTIVE', 'This tenant has been deactivated');
  const { caller_role: _role, caller_active: _active, named_tenant_id: _named, ...tenantRow } = row;
  return { tenant: { status: row.status as TenantStatus, entity: () => em.map(Tenant, tenantRow) }, principal: principal && callerNow(principal, row) };
}

/**
 * A tenant user as they are now, in a transaction of its own in their tenant (the same opening read):
 * a long-lived subscription re-checks its watcher with it. UNAUTHENTICATED once deactivated or deleted.
 */
export function currentPrincipal(orm: Orm, principal: Principal & { readonly tenantId: string }): Promise<Principal> {
  const question = { tenantId: principal.tenantId, principal, named: null, namedError: null };
  return inTenant(orm, principal.tenantId, async (_em, rows) => callerNow(principal, present(rows)), { opening: currentStateRead(question) });
}

/** The opening read's tenant row, unless the tenant is being or has been erased: then it no longer exists. */
function present([row]: Row[]): Row | undefined {
  return row && !isGone(row.status as TenantStatus) ? row : undefined;
}

/** The caller with their current role; UNAUTHENTICATED when deactivated or gone (no row: their tenant is gone too). */
function callerNow(principal: Principal, row: Row | undefined): Principal {
  if (!principal.tenantId) return principal;
  if (row?.caller_active !== true) throw unauthenticated('This account is not active');
  return row.caller_role === principal.role ? principal : { ...principal, role: row.caller_role as Role };
}
