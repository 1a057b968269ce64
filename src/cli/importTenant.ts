import { createReadStream } from 'node:fs';
import { access } from 'node:fs/promises';
import { DEFAULT_IMPORT_BATCH, importTenant } from '../lifecycle/import.js';
import { tenantProgress } from '../lifecycle/progress.js';
import { createProgress, fmt } from '../migrate/progress.js';
import type { Command } from './commands.js';
import { positiveInt, print, runLifecycleCommand, usage } from './lifecycleCommand.js';

const help = `Usage: npm run cli -- import-tenant --in <file> [--as-slug <slug>] [--keep-ids] [--batch-size <n>] [--quiet]

Loads an archive written by export-tenant (or the API's exportTenant) into a new tenant
(docs/lifecycle.md), verifies every table against the manifest (row counts and checksums) and against
what it inserted, and makes the tenant READY. Ids are remapped deterministically (UUIDv3 of the archive
id in the new tenant's id, as the migrator maps legacy ids), foreign keys with them. Killed at any
point, run it again with the same arguments: it resumes after the last committed batch.

  --in <file>        the archive
  --as-slug <slug>   the new tenant's slug (default: the archive's; it can be taken back from the
                     tombstone of the very tenant the archive was exported from)
  --keep-ids         keep the archive's tenant id and row ids (only where no tenant has that id,
                     e.g. another database)
  --batch-size <n>   rows per transaction (default ${DEFAULT_IMPORT_BATCH})
  --quiet            no progress on stderr

Imported users have no password (hashes never leave in an archive): give them one with set-password.
Exit codes: 0 imported and verified (or imported already); 1 failed or did not verify; 2 bad usage, an
unreadable file, a bad slug; 3 the slug or the id is taken.`;

export const importTenantCommand: Command = {
  help,
  options: { in: { type: 'string' }, 'as-slug': { type: 'string' }, 'keep-ids': { type: 'boolean' }, 'batch-size': { type: 'string' }, quiet: { type: 'boolean' } },
  async run(v) {
    if (typeof v.in !== 'string') return usage('--in is required', help);
    const file = v.in;
    try {
      await access(file);
    } catch {
      return usage(`Cannot read ${file}`, help);
    }
    return runLifecycleCommand(async (db, config) => {
      const batchSize = positiveInt(v['batch-size'], DEFAULT_IMPORT_BATCH, '--batch-size');
      const progress = createProgress(process.stderr, { quiet: v.quiet === true, verb: 'imported' });
      progress.start(1);
      try {
        const label = (v['as-slug'] as string | undefined) ?? file;
        const result = await importTenant(db.orm, createReadStream(file), {
          asSlug: v['as-slug'] as string | undefined,
          keepIds: v['keep-ids'] === true,
          baseDomain: config.baseDomain,
          batchSize,
          progress: tenantProgress(progress, label),
        });
        progress.tenantDone(label, result.alreadyImported ? 'imported already' : 'imported and verified', true);
        progress.finish();
        const rows = result.tables.reduce((n, t) => n + t.rows, 0);
        await print(
          result.alreadyImported
            ? `${result.slug} (${result.tenantId}) was imported already: nothing done`
            : `imported ${result.slug} (${result.tenantId}): ${fmt(rows)} rows in ${result.tables.length} tables verified, ${fmt(result.rowsLoaded)} loaded by this run; READY`,
        );
      } finally {
        progress.close();
      }
    });
  },
};
