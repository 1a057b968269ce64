import type { EntityManager } from '@mikro-orm/postgresql';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { bearerToken, type Principal, type TokenSettings, verifyAccessToken } from '../auth/accessToken.js';
import type { PasswordHasher } from '../auth/passwords.js';
import type { Config } from '../config.js';
import type { Orm } from '../db/orm.js';
import type { DnsChallenge } from '../domains/dnsChallenge.js';
import type { Tenant, TenantStatus } from '../entities/Tenant.js';
import { Role } from '../entities/User.js';
import { AppError } from '../errors.js';
import { inTenant } from '../filters/inTenant.js';
import type { TenantEvents } from '../jobs/tenantEvents.js';
import type { Provisioner } from '../jobs/provisioner.js';
import type { LifecycleJobs } from '../lifecycle/queue.js';
import { createLoaders, type Loaders } from '../schema/loaders.js';
import { currentState, currentStateRead, type OpenedTenant } from './currentState.js';
import { resolveTenant, type TenantHints, type TenantName } from './resolveTenant.js';

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
  /**
   * The tenant the request acts in, as its token, header or Host names it; null when none is named.
   * Whether it exists and is active is read as its unit of work opens (`RequestContext.tenant`).
   */
  readonly tenantId: string | null;
  /** Why the request may not act in a tenant at all, as far as known before its unit of work (unknown, malformed). */
  readonly tenantError: AppError | null;
  /** With a token's tenant: what the header or Host names, checked against it as the unit of work opens. */
  readonly namedTenant: TenantName | null;
  /** With a token's tenant: a malformed header, raised as the unit of work opens. */
  readonly namedTenantError: AppError | null;
  readonly hints: TenantHints;
  /** The client's address (proxies trusted per TRUST_PROXY): anonymous callers are rate-limited by it. */
  readonly address: string;
}

export interface RequestContext extends RequestIdentity {
  /**
   * The request's tenant as its unit of work read it first; null without one (and outside a unit of
   * work). Mapped into `em` when first read: most operations need only `tenantStatus`.
   */
  readonly tenant: Tenant | null;
  /** `tenant`'s status, without mapping the entity. */
  readonly tenantStatus: TenantStatus | null;
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
  // An EntityManager only for a lookup: a token that names its tenant needs none here.
  const forkEm = () => services.orm.em.fork({ clear: true }) as EntityManager;
  const { tenantId, error, named, namedError } = await resolveTenant(forkEm, principal, input.hints, services.config.baseDomain);
  return { requestId, principal, authError, tenantId, tenantError: error, namedTenant: named, namedTenantError: namedError, hints: input.hints, address: input.address };
}

/** The logger of one request or operation: every line carries its request, tenant and user ids. */
export function requestLogger(services: Services, identity: RequestIdentity): Logger {
  return services.log.child({ requestId: identity.requestId, tenantId: identity.tenantId ?? undefined, userId: identity.principal?.userId });
}

function contextOf(services: Services, identity: RequestIdentity, tenant: OpenedTenant | null, log: Logger, em: EntityManager): RequestContext {
  const superadmin = identity.principal?.role === Role.SUPERADMIN ? { orm: services.orm, actorId: identity.principal.userId } : undefined;
  let entity: Tenant | undefined;
  return {
    ...identity,
    get tenant() {
      return tenant && (entity ??= tenant.entity());
    },
    tenantStatus: tenant?.status ?? null,
    services,
    log,
    em,
    loaders: createLoaders(em, superadmin),
  };
}

/** A tenant entity read already, as a context takes it. */
const opened = (tenant: Tenant): OpenedTenant => ({ status: tenant.status, entity: () => tenant });

/**
 * A context outside any transaction and tenant scope: tenant-owned data is unreachable (filter and RLS
 * both refuse), shared tables and the platform escape hatch remain. For requests without a tenant, and
 * for subscriptions, which outlive any transaction (with the tenant `currentIdentity` read).
 */
export function plainContext(services: Services, identity: RequestIdentity, tenant: Tenant | null = null, log = requestLogger(services, identity)): RequestContext {
  return contextOf(services, identity, tenant && opened(tenant), log, services.orm.em.fork({ clear: true }) as EntityManager);
}

/** The request's tenant id with what its opening read needs; null when the request acts in no tenant. */
function stateQuestion(identity: RequestIdentity) {
  if (!identity.tenantId || identity.tenantError) return null;
  return { tenantId: identity.tenantId, principal: identity.principal, named: identity.namedTenant, namedError: identity.namedTenantError };
}

/**
 * The request's tenant and caller as they are now, for operations that run outside a unit of work
 * (subscriptions): the same opening read in a transaction of its own in the tenant. Null without a tenant.
 */
export async function currentIdentity(services: Services, identity: RequestIdentity): Promise<{ identity: RequestIdentity; tenant: Tenant | null }> {
  const question = stateQuestion(identity);
  if (!question) return { identity, tenant: null };
  const state = await inTenant(services.orm, question.tenantId, async (em, rows) => currentState(em, question, rows), { opening: currentStateRead(question) });
  return { identity: { ...identity, principal: state.principal }, tenant: state.tenant.entity() };
}

/**
 * Runs one operation as one unit of work. With a tenant: `inTenant` (filter scope, RLS setting, one
 * transaction), whose first round trip also reads the tenant and the caller as they are now
 * (`currentState`: the request fails there if either may not act). Without: a `plainContext`.
 * `readOnly`: the transaction is opened `read only` (Postgres refuses any write in it), and its commit
 * travels with the connection's next message (src/db/pgClient.ts).
 */
export function runUnitOfWork<T>(services: Services, identity: RequestIdentity, fn: (ctx: RequestContext) => Promise<T>, options: { readonly readOnly?: boolean } = {}): Promise<T> {
  const log = requestLogger(services, identity);
  const question = stateQuestion(identity);
  if (!question) return fn(plainContext(services, identity, null, log));
  return inTenant(
    services.orm,
    question.tenantId,
    async (em, rows) => {
      try {
        const { tenant, principal } = currentState(em, question, rows);
        return await fn(contextOf(services, { ...identity, principal }, tenant, log, em));
      } finally {
        // Mutations flush inside `mutate`; anything else loaded was only read. Clearing spares the
        // commit's implicit flush a change-set scan over every entity the response touched.
        em.clear();
      }
    },
    { opening: currentStateRead(question), readOnly: options.readOnly },
  );
}
