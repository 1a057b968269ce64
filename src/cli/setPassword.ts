import { setPasswordHash } from '../auth/accounts.js';
import { PasswordHasher } from '../auth/passwords.js';
import { inTenant } from '../filters/inTenant.js';
import { LifecycleError } from '../lifecycle/errors.js';
import { findTenantRef } from '../lifecycle/tenantRef.js';
import * as v from '../schema/validation.js';
import type { Command } from './commands.js';
import { print, runLifecycleCommand, usage } from './lifecycleCommand.js';

const help = `Usage: npm run cli -- set-password --tenant <id|slug> --email <email> --password <password>

Sets the password of a tenant's user: how users of an imported tenant get in (an archive carries no
password hashes). The user's refresh tokens are revoked; the change is audited (user.setPassword).

  --tenant <id|slug>    the tenant
  --email <email>       the user
  --password <p>        10 to 1,024 characters

Exit codes: 0 set; 2 bad usage, an unknown tenant or user, a password breaking the rules.`;

export const setPasswordCommand: Command = {
  help,
  options: { tenant: { type: 'string' }, email: { type: 'string' }, password: { type: 'string' } },
  async run(o) {
    if (typeof o.tenant !== 'string' || typeof o.email !== 'string' || typeof o.password !== 'string') return usage('--tenant, --email and --password are required', help);
    let email: string;
    let password: string;
    try {
      email = v.email(o.email);
      password = v.password(o.password);
    } catch (err) {
      return usage((err as Error).message, help);
    }
    return runLifecycleCommand(async (db, config) => {
      const tenant = await findTenantRef(db.orm, o.tenant as string);
      const hash = await new PasswordHasher(config.passwordHashing).hash(password);
      const user = await inTenant(db.orm, tenant.id, (em) => setPasswordHash(em, email, hash));
      if (!user) throw new LifecycleError(`No user ${email} in ${tenant.slug}`, 2);
      await print(`password set for ${email} in ${tenant.slug}`);
    });
  },
};
