import type { ParseArgsConfig } from 'node:util';

export interface Command {
  /** Full help: usage and every option. */
  readonly help: string;
  readonly options: NonNullable<ParseArgsConfig['options']>;
  /** Returns the process exit code. */
  run(values: Record<string, unknown>): Promise<number>;
}

/**
 * Every CLI command by name, with its summary. Each lives in its own module under src/cli/, loaded
 * only when it runs: a command pays for its own imports alone (migrate-schemas refuses a concurrent
 * run before it loads the ORM).
 */
export const commands: Record<string, { readonly summary: string; load(): Promise<Command> }> = {
  'create-superadmin': {
    summary: 'Create a platform superadmin (no tenant) unless one with that email exists',
    load: async () => (await import('./createSuperadmin.js')).createSuperadmin,
  },
  'delete-tenant': {
    summary: 'Erase a tenant: DELETING at once, every row deleted in batches, a DELETED tombstone (resumable)',
    load: async () => (await import('./deleteTenant.js')).deleteTenantCommand,
  },
  'export-tenant': {
    summary: "Write a tenant's archive: manifest and rows of every table, one snapshot, streamed",
    load: async () => (await import('./exportTenant.js')).exportTenantCommand,
  },
  'import-tenant': {
    summary: 'Load an archive into a new tenant, verified against its manifest (resumable)',
    load: async () => (await import('./importTenant.js')).importTenantCommand,
  },
  'make-legacy-fixture': {
    summary: 'Build a schema-per-tenant legacy database (tests, demos, benchmark)',
    load: async () => (await import('./makeLegacyFixture.js')).makeLegacyFixtureCommand,
  },
  'migrate-schemas': {
    summary: 'Move a schema-per-tenant legacy database into the row-level tables (resumable, verified)',
    load: async () => (await import('./migrateSchemas.js')).migrateSchemasCommand,
  },
  'set-password': {
    summary: "Set a tenant user's password (imported users have none)",
    load: async () => (await import('./setPassword.js')).setPasswordCommand,
  },
};
