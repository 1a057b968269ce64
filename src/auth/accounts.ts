import { LockMode } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { AuditEvent } from '../entities/AuditEvent.js';
import { Role, User } from '../entities/User.js';
import { conflict, notFound } from '../errors.js';
import { TenantEvents } from '../jobs/tenantEvents.js';
import { revokeUserSessions } from './sessions.js';

/** What an ADMIN may change about a user of their tenant. */
export type AccountChange = { readonly role: Role.ADMIN | Role.MEMBER } | { readonly isActive: boolean };

/**
 * Changes a user's role or active flag inside the tenant's unit of work (`em` is in the tenant's scope:
 * another tenant's user is simply not found). The tenant keeps at least one active ADMIN: the tenant's
 * active ADMIN rows are locked first, so of two admins demoting each other at once the second waits,
 * then counts the admins as the first left them, and gets CONFLICT.
 *
 * A change ends what the user held under the old terms: their refresh tokens are revoked, their open
 * subscriptions end (a `user` event, delivered at commit, to every process), and their access token
 * acts with the new role, or not at all, from their next operation (src/context: `currentPrincipal`).
 * A change to what the user already is does nothing.
 */
export async function changeAccount(em: EntityManager, userId: string, change: AccountChange, actorId: string): Promise<User> {
  const admins = await em.find(User, { role: Role.ADMIN, isActive: true }, { lockMode: LockMode.PESSIMISTIC_WRITE });
  const user = await em.findOne(User, userId);
  if (!user) throw notFound('User');
  const role = 'role' in change ? change.role : user.role;
  const isActive = 'isActive' in change ? change.isActive : user.isActive;
  if (role === user.role && isActive === user.isActive) return user;

  const remainsAdmin = role === Role.ADMIN && isActive;
  if (!remainsAdmin && !admins.some((admin) => admin.id !== user.id)) {
    throw conflict('A tenant keeps at least one active ADMIN');
  }
  user.role = role;
  user.isActive = isActive;
  const tenantId = user.tenant!.id;
  em.create(AuditEvent, {
    action: 'role' in change ? 'user.setRole' : isActive ? 'user.activate' : 'user.deactivate',
    actorId,
    tenantId,
    target: 'role' in change ? `${user.id} ${role}` : user.id,
  });
  await em.flush();
  await revokeUserSessions(em, user.id);
  await TenantEvents.publish(em, { type: 'user', tenantId, userId: user.id });
  return user;
}

/**
 * Gives a user of the tenant `em` is in a new password hash (hashed beforehand, outside any
 * transaction): the command line's way in for imported users, whose archives carry no hash. Their
 * refresh tokens are revoked, as any account change revokes them. Null when no such user.
 */
export async function setPasswordHash(em: EntityManager, email: string, passwordHash: string): Promise<User | null> {
  const user = await em.findOne(User, { email }, { lockMode: LockMode.PESSIMISTIC_WRITE });
  if (!user) return null;
  user.passwordHash = passwordHash;
  em.create(AuditEvent, { action: 'user.setPassword', actorId: null, tenantId: user.tenant!.id, target: user.id });
  await em.flush();
  await revokeUserSessions(em, user.id);
  return user;
}
