import type { EntityManager } from '@mikro-orm/postgresql';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { RefreshToken } from '../entities/RefreshToken.js';
import { Tenant } from '../entities/Tenant.js';
import { User } from '../entities/User.js';
import { AppError, unauthenticated } from '../errors.js';
import { signAccessToken, type TokenSettings } from './accessToken.js';

export interface Session {
  readonly accessToken: string;
  readonly refreshToken: string;
  readonly expiresAt: Date;
  readonly user: User;
  readonly tenant: Tenant | null;
}

const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

/** Starts a session (a new refresh-token family) or continues `familyId`. Flushes. */
export async function issueSession(em: EntityManager, tokens: TokenSettings, user: User, familyId: string = randomUUID()): Promise<Session> {
  const refreshToken = randomBytes(32).toString('base64url');
  em.create(RefreshToken, {
    user,
    familyId,
    tokenHash: hashToken(refreshToken),
    expiresAt: new Date(Date.now() + tokens.lifetimes.refreshSeconds * 1000),
  });
  await em.flush();
  const tenantId = user.tenant?.id ?? null;
  const { token, expiresAt } = signAccessToken(tokens, { id: user.id, role: user.role, tenantId });
  const tenant = tenantId ? await em.findOneOrFail(Tenant, tenantId) : null;
  return { accessToken: token, refreshToken, expiresAt, user, tenant };
}

/**
 * Spends `presented` and issues the next pair of its family. A spent token presented again means it
 * was stolen or replayed: the whole family is revoked, so the thief's newer tokens die too.
 */
export async function rotateSession(em: EntityManager, tokens: TokenSettings, presented: string): Promise<Session> {
  const token = await em.findOne(RefreshToken, { tokenHash: hashToken(presented) }, { populate: ['user'] });
  if (!token || token.revokedAt || token.expiresAt <= new Date()) throw unauthenticated('Invalid refresh token');
  const user = token.user.getEntity();
  await assertTenantActive(em, user);
  // Committed whether the token wins or is found replayed: the revocation must stick though the call fails.
  const session = await em.transactional(async (tx) => {
    await lockFamily(tx, token.familyId);
    // Conditional update: of two concurrent refreshes with the same token, exactly one wins.
    const won = await tx.nativeUpdate(RefreshToken, { id: token.id, spentAt: null, revokedAt: null }, { spentAt: new Date() });
    if (won === 0) {
      await revokeFamily(tx, token.familyId);
      return null;
    }
    return issueSession(tx, tokens, user, token.familyId);
  });
  if (!session) throw unauthenticated('Refresh token reuse detected: the session has been revoked');
  return session;
}

/** Ends the session `presented` belongs to. */
export async function endSession(em: EntityManager, presented: string): Promise<void> {
  const token = await em.findOne(RefreshToken, { tokenHash: hashToken(presented) });
  if (!token || token.revokedAt || token.spentAt) throw unauthenticated('Invalid refresh token');
  await em.transactional(async (tx) => {
    await lockFamily(tx, token.familyId);
    await revokeFamily(tx, token.familyId);
  });
}

/**
 * Serializes spending, issuing and revoking within one family until the transaction ends. Without it,
 * a replay detected between a concurrent winner's spend and its insert revokes the family without the
 * winner's new token, which then lives on.
 */
async function lockFamily(em: EntityManager, familyId: string): Promise<void> {
  await em.execute('select pg_advisory_xact_lock(hashtextextended(?, 0))', [familyId]);
}

async function revokeFamily(em: EntityManager, familyId: string): Promise<void> {
  await em.nativeUpdate(RefreshToken, { familyId, revokedAt: null }, { revokedAt: new Date() });
}

/** A deactivated tenant's users can neither log in nor refresh. */
export async function assertTenantActive(em: EntityManager, user: User): Promise<void> {
  if (!user.tenant) return;
  const tenant = await em.findOneOrFail(Tenant, user.tenant.id);
  if (!tenant.isActive) throw new AppError('TENANT_INACTIVE', 'This tenant has been deactivated');
}
