import type { Scenario } from '../harness.js';
import { apiScenario } from './api.js';
import { lifecycleScenario } from './lifecycle.js';
import { migrateScenario } from './migrate.js';
import { noisyNeighbourScenario } from './noisyNeighbour.js';
import { provisioningScenario } from './provisioning.js';
import { reportScenario } from './report.js';
import { scoping } from './scoping.js';
import { startupScenario } from './startup.js';
import { tracingScenario } from './tracing.js';

/** Every benchmark scenario, in the order they run. One module per scenario in this folder. */
export const scenarios: Scenario[] = [scoping, apiScenario, reportScenario, provisioningScenario, migrateScenario, startupScenario, noisyNeighbourScenario, lifecycleScenario, tracingScenario];
