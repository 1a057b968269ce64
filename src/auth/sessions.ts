import { LockMode } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Orm } from '../db/orm.js';
import { RefreshToken } from '../entities/RefreshToken.js';
import { isGone, Tenant } from '../entities/Tenant.js';
import { User } from '../entities/User.js';
import { AppError, unauthenticated } from '../errors.js';
import { inTenant } from '../filters/inTenant.js';
import { asPlatform, type AuditRecord, type PlatformAct } from '../filters/platform.js';
import { signAccessToken, type TokenSettings } from './accessToken.js';
import { LOCK_REFRESH_FAMILY } from './sql.js';

export interface Session {
  readonly accessToken: string;
  readonly refreshToken: string;
  readonly expiresAt: Date;
  readonly user: User;
  /** The user's tenant, its domains loaded in the session's own scope; null for superadmins. */
  readonly tenant: Tenant | null;
}

const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

/**
 * A refresh token is `<tenant id, or "platform" for a superadmin>.<32 random bytes, base64url>`: opaque
 * to clients, but it tells the server which scope to look it up in, so refresh and logout run inside
 * the tenant's scope (filter and RLS on) with no cross-tenant lookup. The whole string is hashed and
 * stored, so a token whose prefix was changed matches nothing, in any scope.
 */
const PLATFORM_PREFIX = 'platform';
const REFRESH_TOKEN = /^(platform|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.[A-Za-z0-9_-]{43}$/;

const newRefreshToken = (tenantId: string | null) => `${tenantId ?? PLATFORM_PREFIX}.${randomBytes(32).toString('base64url')}`;

/** The scope a presented refresh token names: a tenant id, null (platform), or undefined when malformed. */
function scopeOf(presented: string): string | null | undefined {
  const match = REFRESH_TOKEN.exec(presented);
  if (!match) return undefined;
  return match[1] === PLATFORM_PREFIX ? null : match[1];
}

const invalidRefreshToken = () => unauthenticated('Invalid refresh token');

/**
 * Runs `fn` as one transaction in the scope a session lives in: its tenant's (`inTenant`), or for a
 * superadmin (tenant null: platform rows) the escape hatch, audited as `act`. `audit` lets `fn` name
 * the actor once a lookup found it; in a tenant's scope nothing is audited and it goes nowhere.
 */
function inSessionScope<T>(orm: Orm, tenantId: string | null, act: PlatformAct, fn: (em: EntityManager, audit: AuditRecord) => Promise<T>): Promise<T> {
  return tenantId ? inTenant(orm, tenantId, (em) => fn(em, {})) : asPlatform(orm, act, fn);
}


/**
 * The user, read for the session being issued and share-locked until it commits: a concurrent
 * `setUserActive` or `updateUserRole` (which updates the row, then revokes the user's refresh tokens)
 * either waits for this session and then revokes it, or commits first and this read sees its result.
 * Null when the user is gone or deactivated.
 */
async function lockActiveUser(em: EntityManager, userId: string): Promise<User | null> {
  const user = await em.findOne(User, userId, { lockMode: LockMode.PESSIMISTIC_READ });
  return user?.isActive ? user : null;
}

/**
 * Starts a session (a new refresh-token family) or continues `familyId`, for `user`, inside the user's
 * scope (`em` is in it). The access token carries the user's role as read in this transaction. Flushes.
 */
export async function issueSession(em: EntityManager, tokens: TokenSettings, user: User, familyId: string = randomUUID()): Promise<Session> {
  const tenantId = user.tenant?.id ?? null;
  const refreshToken = newRefreshToken(tenantId);
  em.create(RefreshToken, {
    user,
    tenant: tenantId,
    familyId,
    tokenHash: hashToken(refreshToken),
    expiresAt: new Date(Date.now() + tokens.lifetimes.refreshSeconds * 1000),
  });
  await em.flush();
  const { token, expiresAt } = signAccessToken(tokens, { id: user.id, role: user.role, tenantId });
  const tenant = tenantId ? await em.findOneOrFail(Tenant, tenantId, { populate: ['domains'] }) : null;
  return { accessToken: token, refreshToken, expiresAt, user, tenant };
}

/**
 * The session of a login whose password was verified (outside any transaction) for `userId`: in the
 * user's scope, the user re-read (still active?) and locked while the session is written.
 */
export function startSession(orm: Orm, tokens: TokenSettings, user: { id: string; tenantId: string | null }): Promise<Session> {
  return inSessionScope(orm, user.tenantId, { action: 'superadmin.sessionStart', actorId: user.id }, async (em) => {
    const current = await lockActiveUser(em, user.id);
    if (!current) throw unauthenticated('Invalid email or password');
    return issueSession(em, tokens, current);
  });
}

/**
 * Spends `presented` and issues the next pair of its family, in the token's scope. A spent token
 * presented again means it was stolen or replayed: the whole family is revoked, so the thief's newer
 * tokens die too. A deactivated user's tokens are refused (they were revoked when it happened; this
 * also covers a token racing the deactivation). Refusals roll back (nothing written, no audit event
 * for a token that names nothing), except the replay, whose revocation must stick.
 */
export async function rotateSession(orm: Orm, tokens: TokenSettings, presented: string): Promise<Session> {
  const tenantId = scopeOf(presented);
  if (tenantId === undefined) throw invalidRefreshToken();
  const outcome = await inSessionScope(orm, tenantId, { action: 'superadmin.refresh' }, async (em, audit) => {
    const token = await em.findOne(RefreshToken, { tokenHash: hashToken(presented) });
    if (!token || token.revokedAt || token.expiresAt <= new Date()) throw invalidRefreshToken();
    audit.actorId = token.user.id;
    const user = await lockActiveUser(em, token.user.id);
    if (!user) throw invalidRefreshToken();
    await assertTenantActive(em, user);
    await lockFamily(em, token.familyId);
    // Conditional update: of two concurrent refreshes with the same token, exactly one wins.
    const won = await em.nativeUpdate(RefreshToken, { id: token.id, spentAt: null, revokedAt: null }, { spentAt: new Date() });
    if (won === 0) {
      await revokeFamily(em, token.familyId);
      return REPLAYED; // committed, then refused below
    }
    return issueSession(em, tokens, user, token.familyId);
  });
  if (outcome === REPLAYED) throw unauthenticated('Refresh token reuse detected: the session has been revoked');
  return outcome;
}

const REPLAYED = Symbol('replayed refresh token');

/** Ends the session `presented` belongs to, in the token's scope. */
export async function endSession(orm: Orm, presented: string): Promise<void> {
  const tenantId = scopeOf(presented);
  if (tenantId === undefined) throw invalidRefreshToken();
  await inSessionScope(orm, tenantId, { action: 'superadmin.logout' }, async (em, audit) => {
    const token = await em.findOne(RefreshToken, { tokenHash: hashToken(presented) });
    if (!token || token.revokedAt || token.spentAt) throw invalidRefreshToken();
    audit.actorId = token.user.id;
    await lockFamily(em, token.familyId);
    await revokeFamily(em, token.familyId);
  });
}

/** Revokes every live refresh token of `userId` (in `em`'s tenant scope): their role or account changed. */
export async function revokeUserSessions(em: EntityManager, userId: string): Promise<void> {
  await em.nativeUpdate(RefreshToken, { user: userId, revokedAt: null }, { revokedAt: new Date() });
}

/**
 * Serializes spending, issuing and revoking within one family until the transaction ends. Without it,
 * a replay detected between a concurrent winner's spend and its insert revokes the family without the
 * winner's new token, which then lives on.
 */
async function lockFamily(em: EntityManager, familyId: string): Promise<void> {
  await em.execute(LOCK_REFRESH_FAMILY, [familyId]);
}

async function revokeFamily(em: EntityManager, familyId: string): Promise<void> {
  await em.nativeUpdate(RefreshToken, { familyId, revokedAt: null }, { revokedAt: new Date() });
}

/** A deactivated tenant's users can neither log in nor refresh; an erased (or erasing) tenant's have no session at all. */
async function assertTenantActive(em: EntityManager, user: User): Promise<void> {
  if (!user.tenant) return;
  const tenant = await em.findOneOrFail(Tenant, user.tenant.id);
  if (isGone(tenant.status)) throw invalidRefreshToken();
  if (!tenant.isActive) throw tenantInactiveError();
}

export const tenantInactiveError = () => new AppError('TENANT_INACTIVE', 'This tenant has been deactivated');
