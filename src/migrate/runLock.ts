import pg from 'pg';

/** The advisory lock key of "a migrate-schemas run holds this target database". */
const RUN_LOCK_KEY = 7_236_105;

/** How long connecting for the lock may take before the run gives up (an unreachable server). */
const CONNECT_TIMEOUT_MS = 10_000;

/** Another run holds the target: nothing was done (exit code 3). */
export class MigrationRunningError extends Error {
  constructor() {
    super('Another migrate-schemas is running against this database: nothing was done. Run it again when that one has finished.');
    this.name = 'MigrationRunningError';
  }
}

export interface RunLock {
  release(): Promise<void>;
}

/**
 * One migrate-schemas at a time per target database: a session advisory lock, on a connection of its
 * own held for the whole run, so it goes when the process does (even after `kill -9`). Taking it never
 * waits (`pg_try_advisory_lock`): a second run is refused at once with `MigrationRunningError`. Any
 * role can take it (advisory locks belong to the database, not to a role), so the command line takes
 * it as the owner before it applies migrations or loads the ORM.
 */
export async function takeRunLock(url: string): Promise<RunLock> {
  const client = new pg.Client({ connectionString: url, application_name: 'tenantry-migrate-lock', connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  // A lost lock connection must not crash the run: its writes stay safe without the lock (each
  // checkpoint moves only from the value it was read at, see checkpoints.ts).
  client.on('error', () => undefined);
  await client.connect();
  try {
    const { rows } = await client.query<{ ok: boolean }>('select pg_try_advisory_lock($1) as ok', [RUN_LOCK_KEY]);
    if (!rows[0].ok) throw new MigrationRunningError();
  } catch (err) {
    await client.end();
    throw err;
  }
  return { release: () => client.end() };
}
