import 'reflect-metadata';
import { loadConfig } from '../config.js';
import { createLogger } from '../server/logger.js';
import { exitOnStartFailure, onShutdownSignals } from '../server/runtime.js';
import { startWorker } from './worker.js';

/** `npm run worker`: a provisioning worker (see worker.ts), until SIGINT or SIGTERM. */
const config = loadConfig();
startWorker(config).then((worker) => onShutdownSignals(createLogger(config.logLevel), worker.stop), exitOnStartFailure);
