import type { Config } from '../config.js';
import { type RuntimeOptions, startRuntime } from '../server/runtime.js';

/** What `npm run worker` runs: a provisioning worker alone (any number may run beside the servers). */
export async function startWorker(config: Config, options: RuntimeOptions = {}): Promise<{ stop(): Promise<void> }> {
  const runtime = await startRuntime(config, options);
  await runtime.queue.work();
  await runtime.lifecycle.work();
  const recovered = await runtime.queue.recover();
  await runtime.lifecycle.recover();
  runtime.log.info({ recovered }, 'tenantry worker started');
  return { stop: () => runtime.close() };
}
