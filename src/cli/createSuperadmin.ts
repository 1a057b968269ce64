import { PasswordHasher } from '../auth/passwords.js';
import { ensureSuperadmin } from '../auth/superadmin.js';
import { loadConfig } from '../config.js';
import { openDatabase } from '../db/database.js';
import type { Command } from './commands.js';

export const createSuperadmin: Command = {
  help: `Usage: npm run cli -- create-superadmin --email E --password P

  --email      the superadmin's email (also read from SUPERADMIN_EMAIL)
  --password   at least 10 characters (also read from SUPERADMIN_PASSWORD)

Connects like the server (DATABASE_URL, else the embedded Postgres in DATA_DIR) and applies pending
migrations first. Exit code 0 when created or already present.`,
  options: { email: { type: 'string' }, password: { type: 'string' } },
  async run(values) {
    const config = loadConfig();
    const email = (values.email as string | undefined) ?? config.superadminEmail;
    const password = (values.password as string | undefined) ?? config.superadminPassword;
    if (!email || !password) {
      process.stderr.write(`${this.help}\n`);
      return 2;
    }
    const db = await openDatabase(config);
    try {
      const created = await ensureSuperadmin(db.orm, new PasswordHasher(config.passwordHashing), email, password);
      process.stdout.write(created ? `created superadmin ${email}\n` : `superadmin ${email} already exists\n`);
      return 0;
    } finally {
      await db.close();
    }
  },
};
