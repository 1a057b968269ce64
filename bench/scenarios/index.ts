import type { Scenario } from '../harness.js';
import { migrateScenario } from './migrate.js';

/** Every benchmark scenario, in the order they run. One module per scenario in this folder. */
export const scenarios: Scenario[] = [migrateScenario];
