import type { EntityManager } from '@mikro-orm/postgresql';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { bearerToken, type Principal, type TokenSettings, verifyAccessToken } from '../auth/accessToken.js';
import type { PasswordHasher } from '../auth/passwords.js';
import type { Config } from '../config.js';
import type { Orm } from '../db/orm.js';
import type { DnsChallenge } from '../domains/dnsChallenge.js';
import type { Tenant } from '../entities/Tenant.js';
import { AppError } from '../errors.js';
import { inTenant } from '../filters/inTenant.js';
import type { TenantEvents } from '../jobs/tenantEvents.js';
import type { Provisioner } from '../jobs/provisioner.js';
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
  return { ...identity, services, log, em, loaders: createLoaders(em) };
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
 * Runs one operation as one unit of work. With a tenant: `inTenant` (filter scope, RLS setting, one
 * transaction). Without: a `plainContext`.
 */
export function runUnitOfWork<T>(services: Services, identity: RequestIdentity, fn: (ctx: RequestContext) => Promise<T>): Promise<T> {
  const log = requestLogger(services, identity);
  if (!identity.tenant || identity.tenantError) return fn(plainContext(services, identity, log));
  return inTenant(services.orm, identity.tenant.id, async (em) => {
    try {
      return await fn(contextOf(services, identity, log, em));
    } finally {
      // Mutations flush inside `mutate`; anything else loaded was only read. Clearing spares the
      // commit's implicit flush a change-set scan over every entity the response touched.
      em.clear();
    }
  });
}
