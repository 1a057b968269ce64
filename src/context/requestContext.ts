import type { EntityManager } from '@mikro-orm/postgresql';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { bearerToken, type Principal, type TokenSettings, verifyAccessToken } from '../auth/accessToken.js';
import type { PasswordHasher } from '../auth/passwords.js';
import type { Config } from '../config.js';
import type { Orm } from '../db/orm.js';
import type { DnsChallenge } from '../domains/dnsChallenge.js';
import type { Tenant } from '../entities/Tenant.js';
import { Role, User } from '../entities/User.js';
import { AppError, unauthenticated } from '../errors.js';
import { inTenant } from '../filters/inTenant.js';
import type { TenantEvents } from '../jobs/tenantEvents.js';
import type { Provisioner } from '../jobs/provisioner.js';
import type { LifecycleJobs } from '../lifecycle/queue.js';
import { createLoaders, type Loaders } from '../schema/loaders.js';
import { resolveTenant, type TenantHints } from './resolveTenant.js';

/** Process-wide collaborators a request can use. */
export interface Services {
  readonly orm: Orm;
  readonly config: Config;
  /** The HS256 key and the token lifetimes. */
  readonly tokens: TokenSettings;
  readonly log: Logger;
  readonly provisioner: Provisioner;
  /** Export and erase jobs (src/lifecycle). */
  readonly lifecycle: LifecycleJobs;
  readonly events: TenantEvents;
  readonly passwords: PasswordHasher;
  /** Looks up custom domains' TXT proofs (`verifyDomain`). */
  readonly dns: DnsChallenge;
}

/** What a request (HTTP) or an operation (WebSocket) knows before any resolver runs. */
export interface RequestIdentity {
  readonly requestId: string;
  /** The verified token's identity; null when no (valid) token was sent. */
  readonly principal: Principal | null;
  /** A token was sent but is bad or expired: refused for every non-public operation. */
  readonly authError: AppError | null;
  /** The resolved tenant, in whatever status; null when none is named. */
  readonly tenant: Tenant | null;
  /** Why the request may not act in a tenant at all (mismatch, unknown, inactive). */
  readonly tenantError: AppError | null;
  readonly hints: TenantHints;
  /** The client's address (proxies trusted per TRUST_PROXY): anonymous callers are rate-limited by it. */
  readonly address: string;
}

export interface RequestContext extends RequestIdentity {
  readonly services: Services;
  readonly log: Logger;
  /** The unit of work's EntityManager: tenant-scoped (filter + RLS) when `tenant` is set. */
  em: EntityManager;
  loaders: Loaders;
}

/**
 * Verifies the token and resolves the tenant: once per HTTP request, once per WebSocket operation.
 * Errors are recorded, not thrown, because public operations (login, signUp, refreshToken, logout)
 * must work whatever stale token or header a client still sends; `guardOperation` raises them for the rest.
 */
export async function identify(services: Services, input: { requestId?: string; authorization?: unknown; hints: TenantHints; address: string }): Promise<RequestIdentity> {
  // HTTP brings the id it echoes (src/server/requestId.ts); a WebSocket operation gets one of its own.
  const requestId = input.requestId ?? randomUUID();
  let principal: Principal | null = null;
  let authError: AppError | null = null;
  const token = bearerToken(input.authorization);
  if (input.authorization !== undefined && input.authorization !== '' && !token) {
    authError = new AppError('UNAUTHENTICATED', 'Malformed Authorization header');
  } else if (token) {
    try {
      principal = verifyAccessToken(services.tokens.secret, token);
    } catch (err) {
      authError = err as AppError;
    }
  }
  const em = services.orm.em.fork({ clear: true }) as EntityManager;
  const { tenant, error } = await resolveTenant(em, principal, input.hints, services.config.baseDomain);
  return { requestId, principal, authError, tenant, tenantError: error, hints: input.hints, address: input.address };
}

/** The logger of one request or operation: every line carries its request, tenant and user ids. */
export function requestLogger(services: Services, identity: RequestIdentity): Logger {
  return services.log.child({ requestId: identity.requestId, tenantId: identity.tenant?.id, userId: identity.principal?.userId });
}

function contextOf(services: Services, identity: RequestIdentity, log: Logger, em: EntityManager): RequestContext {
  const superadmin = identity.principal?.role === Role.SUPERADMIN ? { orm: services.orm, actorId: identity.principal.userId } : undefined;
  return { ...identity, services, log, em, loaders: createLoaders(em, superadmin) };
}

/**
 * A context outside any transaction and tenant scope: tenant-owned data is unreachable (filter and RLS
 * both refuse), shared tables and the platform escape hatch remain. For requests without a tenant, and
 * for subscriptions, which outlive any transaction.
 */
export function plainContext(services: Services, identity: RequestIdentity, log = requestLogger(services, identity)): RequestContext {
  return contextOf(services, identity, log, services.orm.em.fork({ clear: true }) as EntityManager);
}

/**
 * The caller as they are now, not as their token says (the token's role is not trusted alone): one
 * primary-key read of the user inside the tenant's scope (filter and RLS). A demoted user acts with
 * their current role; a deactivated (or deleted) one is UNAUTHENTICATED from their next operation on.
 * Superadmins are platform rows that no API demotes or deactivates: their token is taken as it is.
 * The one place this check lives, so it can be folded into the transaction's first round trip.
 */
export async function currentPrincipal(em: EntityManager, principal: Principal): Promise<Principal> {
  if (!principal.tenantId) return principal;
  const user = await em.findOne(User, principal.userId);
  if (!user?.isActive) throw unauthenticated('This account is not active');
  return user.role === principal.role ? principal : { ...principal, role: user.role };
}

/**
 * `identity` with the caller as they are now, for operations that run outside a unit of work
 * (subscriptions): `currentPrincipal` in a transaction of its own in the caller's tenant.
 */
export async function currentIdentity(services: Services, identity: RequestIdentity): Promise<RequestIdentity> {
  const { principal } = identity;
  if (!principal?.tenantId) return identity;
  return { ...identity, principal: await inTenant(services.orm, principal.tenantId, (em) => currentPrincipal(em, principal)) };
}

/**
 * Runs one operation as one unit of work. With a tenant: `inTenant` (filter scope, RLS setting, one
 * transaction), whose first read is the caller's current role and active flag. Without: a `plainContext`.
 */
export function runUnitOfWork<T>(services: Services, identity: RequestIdentity, fn: (ctx: RequestContext) => Promise<T>): Promise<T> {
  const log = requestLogger(services, identity);
  if (!identity.tenant || identity.tenantError) return fn(plainContext(services, identity, log));
  return inTenant(services.orm, identity.tenant.id, async (em) => {
    try {
      const principal = identity.principal && (await currentPrincipal(em, identity.principal));
      return await fn(contextOf(services, { ...identity, principal }, log, em));
    } finally {
      // Mutations flush inside `mutate`; anything else loaded was only read. Clearing spares the
      // commit's implicit flush a change-set scan over every entity the response touched.
      em.clear();
    }
  });
}
