import { Migration20261125000000Init } from './Migration20261125000000Init.js';

/** Every migration, in order. Listed explicitly so the server and tests run the same set without globbing. */
export const migrationsList = [{ name: 'Migration20261125000000Init', class: Migration20261125000000Init }];
