import { launchServer } from '../../../src/server/launch.js';

/**
 * `npm start` as tests run it: the production server with the test knobs injected (loaded after
 * launchServer has started tracing, when asked for: they import the ORM, which loads `pg`).
 */
await launchServer(async () => (await import('../testKnobs.js')).runtimeOptionsFromKnobs());
