import { UniqueConstraintViolationException } from '@mikro-orm/core';
import type { Orm } from '../db/orm.js';
import { Role, User } from '../entities/User.js';
import { asPlatform } from '../filters/platform.js';
import * as v from '../schema/validation.js';
import type { PasswordHasher } from './passwords.js';

/**
 * Creates the superadmin `email` unless a superadmin with that email exists. Returns whether it created
 * one. Superadmins are platform rows (no tenant): reached through the escape hatch, audited. The
 * password is hashed first, holding no connection.
 *
 * Every server started with SUPERADMIN_EMAIL calls it, and servers start together (a deployment scaled
 * to several processes): when another one inserts the superadmin between this one's look and its
 * insert, the unique index refuses the second row, and the superadmin exists, which is all either wanted.
 */
export async function ensureSuperadmin(orm: Orm, passwords: PasswordHasher, email: string, password: string): Promise<boolean> {
  const normalized = v.email(email);
  const passwordHash = await passwords.hash(v.password(password));
  try {
    return await asPlatform(orm, { action: 'superadmin.ensure', target: normalized }, async (em) => {
      if (await em.count(User, { tenant: null, email: normalized })) return false;
      em.create(User, { tenant: null, email: normalized, role: Role.SUPERADMIN, passwordHash });
      await em.flush();
      return true;
    });
  } catch (err) {
    if (err instanceof UniqueConstraintViolationException) return false;
    throw err;
  }
}
