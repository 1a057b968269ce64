import { type Config, loadConfig } from '../config.js';
import type { Database } from '../db/database.js';
import { LifecycleError } from '../lifecycle/errors.js';
import { UncoveredTablesError } from '../lifecycle/catalog.js';
import { ArchiveFormatError } from '../lifecycle/archive.js';

/**
 * Runs a lifecycle command (export-tenant, delete-tenant, import-tenant, set-password) against the
 * database the server uses (migrations applied first), and turns its refusals into exit codes:
 * 2 bad usage (an unknown tenant, a wrong confirmation, a bad slug), 3 a conflict with what the database
 * holds (a slug or id taken, another run in the way), 1 any other failure. Messages go to stderr.
 */
export async function runLifecycleCommand(fn: (db: Database, config: Config) => Promise<void>): Promise<number> {
  const config = loadConfig();
  const { openDatabase } = await import('../db/database.js');
  const db = await openDatabase(config, { poolSize: 4 });
  try {
    await fn(db, config);
    return 0;
  } catch (err) {
    if (err instanceof LifecycleError) {
      process.stderr.write(`${err.message}\n`);
      return err.exitCode;
    }
    if (err instanceof UncoveredTablesError || err instanceof ArchiveFormatError) {
      process.stderr.write(`${err.message}\n`);
      return 1;
    }
    throw err;
  } finally {
    await db.close();
  }
}

/** Writes `text` to stdout and waits for it: main() exits right after, which would cut a pipe short. */
export function print(text: string): Promise<void> {
  return new Promise((resolve) => process.stdout.write(`${text}\n`, () => resolve()));
}

export function positiveInt(value: unknown, fallback: number, flag: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new LifecycleError(`${flag} must be a positive integer, got "${String(value)}"`, 2);
  return n;
}

/** A usage error before anything runs: the message and the help, exit code 2. */
export function usage(message: string, help: string): number {
  process.stderr.write(`${message}\n\n${help}\n`);
  return 2;
}
