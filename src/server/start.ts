import { ensureSuperadmin } from '../auth/superadmin.js';
import type { Config } from '../config.js';
import { createApp } from './app.js';
import { jwtSecret, type RuntimeOptions, startRuntime } from './runtime.js';

export interface RunningServer {
  readonly port: number;
  /** Graceful: requests in flight finish, then the worker, the database and the runtime stop. */
  stop(): Promise<void>;
}

/** What `npm start` runs: migrations, the superadmin from the configuration, the worker unless RUN_WORKER=false, the API. */
export async function startServer(config: Config, options: RuntimeOptions = {}): Promise<RunningServer> {
  // Requests get the configured bounds on their connections; the in-process worker shares that pool.
  const runtime = await startRuntime(config, options, { serving: config.database });
  const { log, db, queue, lifecycle, passwords } = runtime;
  const secret = jwtSecret(config, log);
  if (config.superadmin && (await ensureSuperadmin(db.orm, passwords, config.superadmin.email, config.superadmin.password))) {
    log.info({ email: config.superadmin.email }, 'superadmin created');
  }
  if (config.runWorker) {
    await queue.work();
    const recovered = await queue.recover();
    if (recovered) log.info({ recovered }, 're-enqueued unfinished tenant preparations');
    await lifecycle.work();
    await lifecycle.recover();
  }
  const app = await createApp({ config, orm: db.orm, appUrl: db.appUrl, jwtSecret: secret, log, provisioner: queue, lifecycle, passwords, plugins: options.plugins });
  const port = await app.listen(config.port);
  log.info({ port, worker: config.runWorker, database: config.databaseUrl ? 'DATABASE_URL' : 'embedded' }, 'tenantry listening');
  return {
    port,
    stop: async () => {
      await app.close();
      await runtime.close();
    },
  };
}
