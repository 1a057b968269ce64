import type { ParseArgsConfig } from 'node:util';
import { createSuperadmin } from './createSuperadmin.js';
import { makeLegacyFixtureCommand } from './makeLegacyFixture.js';
import { migrateSchemasCommand } from './migrateSchemas.js';

export interface Command {
  readonly summary: string;
  /** Full help: usage and every option. */
  readonly help: string;
  readonly options: NonNullable<ParseArgsConfig['options']>;
  /** Returns the process exit code. */
  run(values: Record<string, unknown>): Promise<number>;
}

/** Every CLI command by name. Each lives in its own module under src/cli/. */
export const commands: Record<string, Command> = {
  'create-superadmin': createSuperadmin,
  'make-legacy-fixture': makeLegacyFixtureCommand,
  'migrate-schemas': migrateSchemasCommand,
};
