import type { EntityManager } from '@mikro-orm/postgresql';
import type { Orm } from '../db/orm.js';
import { Role, User } from '../entities/User.js';
import * as v from '../schema/validation.js';
import type { PasswordHasher } from './passwords.js';

/** Creates the superadmin `email` unless a superadmin with that email exists. Returns whether it created one. */
export async function ensureSuperadmin(orm: Orm, passwords: PasswordHasher, email: string, password: string): Promise<boolean> {
  const normalized = v.email(email);
  v.password(password);
  const em = orm.em.fork({ clear: true }) as EntityManager;
  if (await em.count(User, { tenant: null, email: normalized })) return false;
  em.create(User, { tenant: null, email: normalized, role: Role.SUPERADMIN, passwordHash: await passwords.hash(password) });
  await em.flush();
  return true;
}
