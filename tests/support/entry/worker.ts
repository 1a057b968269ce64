import 'reflect-metadata';
import { loadConfig } from '../../../src/config.js';
import { startWorker } from '../../../src/jobs/worker.js';
import { createLogger } from '../../../src/server/logger.js';
import { exitOnStartFailure, onShutdownSignals } from '../../../src/server/runtime.js';
import { runtimeOptionsFromKnobs } from '../testKnobs.js';

/** `npm run worker` as tests run it: the production worker with the provisioning test knobs injected. */
const config = loadConfig();
startWorker(config, runtimeOptionsFromKnobs()).then((worker) => onShutdownSignals(createLogger(config.logLevel), worker.stop), exitOnStartFailure);
