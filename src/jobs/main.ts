import 'reflect-metadata';
import { loadConfig } from '../config.js';
import { startRuntime } from '../server/runtime.js';

/** `npm run worker`: a provisioning worker alone; run as many as you like beside the servers. */
async function main(): Promise<void> {
  const runtime = await startRuntime(loadConfig());
  await runtime.queue.work();
  const recovered = await runtime.queue.recover();
  runtime.log.info({ recovered }, 'tenantry worker started');
  const stop = async () => {
    await runtime.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
