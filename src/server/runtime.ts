import type { Config } from '../config.js';
import { openDatabase, type Database } from '../db/database.js';
import { devSecret } from '../devSecrets.js';
import { ProvisioningQueue } from '../jobs/provisioningQueue.js';
import { createLogger } from './logger.js';
import type { Logger } from 'pino';

export interface Runtime {
  readonly config: Config;
  readonly log: Logger;
  readonly db: Database;
  readonly queue: ProvisioningQueue;
  close(): Promise<void>;
}

/** What the server and the standalone worker both need: logs, the database, the job queue. */
export async function startRuntime(config: Config): Promise<Runtime> {
  const log = createLogger(config.logLevel);
  const db = await openDatabase(config);
  try {
    const queue = await ProvisioningQueue.start(db.appUrl, db.orm, log, { baseDomain: config.baseDomain });
    return {
      config,
      log,
      db,
      queue,
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
