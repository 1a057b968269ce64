import { DEFAULT_ERASE_BATCH, eraseTenant, requestDeletion } from '../lifecycle/erase.js';
import { tenantProgress } from '../lifecycle/progress.js';
import { findTenantRef } from '../lifecycle/tenantRef.js';
import { createProgress, fmt } from '../migrate/progress.js';
import type { Command } from './commands.js';
import { positiveInt, print, runLifecycleCommand, usage } from './lifecycleCommand.js';

const help = `Usage: npm run cli -- delete-tenant --tenant <id|slug> --confirm-slug <slug> [--batch-size <n>] [--quiet]

Erases a tenant (docs/lifecycle.md): it goes DELETING at once (its users, tokens, sockets and hostnames
stop working), then every row of it in every table holding tenant_id is deleted in short batches,
children first, and it ends DELETED: the tenant row stays as a tombstone with the rows deleted per
table, and an audit event records it. No other tenant's row is touched, and none of its requests waits.
Killed at any point, run it again: it goes on where it stopped, and counts nothing twice.

  --tenant <id|slug>     the tenant
  --confirm-slug <slug>  the tenant's slug again, so a typo cannot erase the wrong tenant
  --batch-size <n>       rows per transaction (default ${DEFAULT_ERASE_BATCH})
  --quiet                no progress on stderr

Export it first (export-tenant) if its data is owed to anyone: erased is erased. Its exports made by
the API are deleted with it.
Exit codes: 0 DELETED; 1 failed; 2 bad usage, an unknown tenant, or a confirmation that is not its slug;
3 the schema migrator is still filling the tenant.`;

export const deleteTenantCommand: Command = {
  help,
  options: { tenant: { type: 'string' }, 'confirm-slug': { type: 'string' }, 'batch-size': { type: 'string' }, quiet: { type: 'boolean' } },
  async run(v) {
    if (typeof v.tenant !== 'string' || typeof v['confirm-slug'] !== 'string') return usage('--tenant and --confirm-slug are required', help);
    return runLifecycleCommand(async (db, config) => {
      const batchSize = positiveInt(v['batch-size'], DEFAULT_ERASE_BATCH, '--batch-size');
      const ref = await findTenantRef(db.orm, v.tenant as string);
      await requestDeletion(db.orm, ref.id, { actorId: null, confirmSlug: v['confirm-slug'] as string });
      const progress = createProgress(process.stderr, { quiet: v.quiet === true, verb: 'deleted' });
      progress.start(1);
      try {
        const tenant = await eraseTenant(db.orm, ref.id, { batchSize, progress: tenantProgress(progress, ref.slug), exportDir: config.exports.dir });
        const rows = Object.values(tenant.deletion?.rows ?? {}).reduce((n, r) => n + r, 0);
        progress.tenantDone(ref.slug, 'DELETED', true);
        progress.finish();
        await print(`deleted ${tenant.deletion?.slug ?? ref.slug} (${tenant.id}): ${fmt(rows)} rows, DELETED at ${tenant.deletion?.finishedAt}`);
      } finally {
        progress.close();
      }
    });
  },
};
