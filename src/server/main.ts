import { launchServer } from './launch.js';

/** `npm start`: the API on PORT (see start.ts and launch.ts), until SIGINT or SIGTERM. */
await launchServer();
