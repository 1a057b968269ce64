import type { Orm } from '../db/orm.js';
import { Role, User } from '../entities/User.js';
import { asPlatform } from '../filters/platform.js';
import * as v from '../schema/validation.js';
import type { PasswordHasher } from './passwords.js';

/**
 * Creates the superadmin `email` unless a superadmin with that email exists. Returns whether it created
 * one. Superadmins are platform rows (no tenant): reached through the escape hatch, audited. The
 * password is hashed first, holding no connection.
 */
export async function ensureSuperadmin(orm: Orm, passwords: PasswordHasher, email: string, password: string): Promise<boolean> {
  const normalized = v.email(email);
  const passwordHash = await passwords.hash(v.password(password));
  return asPlatform(orm, { action: 'superadmin.ensure', target: normalized }, async (em) => {
    if (await em.count(User, { tenant: null, email: normalized })) return false;
    em.create(User, { tenant: null, email: normalized, role: Role.SUPERADMIN, passwordHash });
    await em.flush();
    return true;
  });
}
