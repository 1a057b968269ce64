import 'reflect-metadata';
import { loadConfig } from '../config.js';
import { createLogger } from './logger.js';
import { exitOnStartFailure, onShutdownSignals } from './runtime.js';
import { startServer } from './start.js';

/** `npm start`: the API on PORT (see start.ts), until SIGINT or SIGTERM. */
const config = loadConfig();
startServer(config).then((server) => onShutdownSignals(createLogger(config.logLevel), server.stop), exitOnStartFailure);
