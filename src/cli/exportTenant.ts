import { randomUUID } from 'node:crypto';
import { exportTenantToFile } from '../lifecycle/export.js';
import { tenantProgress } from '../lifecycle/progress.js';
import { findTenantRef } from '../lifecycle/tenantRef.js';
import { createProgress, fmt } from '../migrate/progress.js';
import type { Command } from './commands.js';
import { print, runLifecycleCommand, usage } from './lifecycleCommand.js';

const help = `Usage: npm run cli -- export-tenant --tenant <id|slug> --out <file> [--quiet]

Writes one tenant's archive (docs/lifecycle.md): a gzip'd tar holding manifest.json (format, tenant,
tables in foreign-key order with row counts and checksums) and every table's rows as JSON lines, read
in one consistent snapshot while the tenant keeps working. Users come without password hashes, and
refresh tokens stay behind.

  --tenant <id|slug>   the tenant
  --out <file>         the archive (written as <file>.partial, renamed when complete: a killed run
                       leaves no file that looks whole; run it again)
  --quiet              no progress on stderr

Exit codes: 0 written; 1 failed (the tenant is being or was erased, or a table holding tenant_id is
not covered by the lifecycle); 2 bad usage or an unknown tenant.`;

export const exportTenantCommand: Command = {
  help,
  options: { tenant: { type: 'string' }, out: { type: 'string' }, quiet: { type: 'boolean' } },
  async run(v) {
    if (typeof v.tenant !== 'string' || typeof v.out !== 'string') return usage('--tenant and --out are required', help);
    const out = v.out;
    return runLifecycleCommand(async (db, config) => {
      const tenant = await findTenantRef(db.orm, v.tenant as string);
      const progress = createProgress(process.stderr, { quiet: v.quiet === true, verb: 'exported' });
      progress.start(1);
      try {
        const result = await exportTenantToFile(db.orm, tenant.id, out, { exportId: randomUUID(), baseDomain: config.baseDomain, progress: tenantProgress(progress, tenant.slug) });
        const rows = result.manifest.tables.reduce((n, t) => n + t.rows, 0);
        progress.tenantDone(tenant.slug, 'exported', true);
        progress.finish();
        await print(`exported ${tenant.slug}: ${fmt(rows)} rows in ${result.manifest.tables.length} tables to ${out} (${fmt(result.bytes)} bytes, sha256 ${result.sha256})`);
      } finally {
        progress.close();
      }
    });
  },
};
