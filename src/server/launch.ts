import 'reflect-metadata';
import { loadConfig } from '../config.js';
import type { RuntimeOptions } from './runtime.js';

/**
 * What the server's entry points run: the configuration, then tracing when it asks for it, then the
 * server (start.ts) until SIGINT or SIGTERM. Everything that loads `pg` (the ORM, the job queue) is
 * imported only after tracing started: its `pg` instrumentation patches `pg` as Node loads it. Without
 * tracing nothing of OpenTelemetry's SDK is loaded.
 */
export async function launchServer(runtimeOptions: () => Promise<RuntimeOptions> = async () => ({})): Promise<void> {
  const config = loadConfig();
  const tracing = config.tracing ? (await import('../tracing/sdk.js')).startTracing() : undefined;
  const [{ createLogger }, { exitOnStartFailure, onShutdownSignals }, { startServer }] = await Promise.all([import('./logger.js'), import('./runtime.js'), import('./start.js')]);
  try {
    const server = await startServer(config, await runtimeOptions());
    onShutdownSignals(createLogger(config.logLevel), async () => {
      await server.stop();
      // The spans of the last requests are still buffered.
      await tracing?.shutdown();
    });
  } catch (err) {
    exitOnStartFailure(err);
  }
}
