import 'reflect-metadata';
import { loadConfig } from '../../../src/config.js';
import { createLogger } from '../../../src/server/logger.js';
import { exitOnStartFailure, onShutdownSignals } from '../../../src/server/runtime.js';
import { startServer } from '../../../src/server/start.js';
import { runtimeOptionsFromKnobs } from '../testKnobs.js';

/** `npm start` as tests run it: the production server with the provisioning test knobs injected. */
const config = loadConfig();
startServer(config, runtimeOptionsFromKnobs()).then((server) => onShutdownSignals(createLogger(config.logLevel), server.stop), exitOnStartFailure);
