import { Migration20261125000000Init } from './Migration20261125000000Init.js';
import { Migration20261125001000JobQueue } from './Migration20261125001000JobQueue.js';
import { Migration20261125010000Migrator } from './Migration20261125010000Migrator.js';
import { Migration20261126000000MigratorReport } from './Migration20261126000000MigratorReport.js';
import { Migration20261126100000DomainVerification } from './Migration20261126100000DomainVerification.js';
import { Migration20261201000000RateLimit } from './Migration20261201000000RateLimit.js';
import { Migration20261201100000TenantTaggedTables } from './Migration20261201100000TenantTaggedTables.js';
import { Migration20261210000000IdempotencyKeys } from './Migration20261210000000IdempotencyKeys.js';
import { Migration20261215000000TenantLifecycle } from './Migration20261215000000TenantLifecycle.js';

/** Every migration, in order. Listed explicitly so the server and tests run the same set without globbing. */
export const migrationsList = [
  { name: 'Migration20261125000000Init', class: Migration20261125000000Init },
  { name: 'Migration20261125001000JobQueue', class: Migration20261125001000JobQueue },
  { name: 'Migration20261125010000Migrator', class: Migration20261125010000Migrator },
  { name: 'Migration20261126000000MigratorReport', class: Migration20261126000000MigratorReport },
  { name: 'Migration20261126100000DomainVerification', class: Migration20261126100000DomainVerification },
  { name: 'Migration20261201000000RateLimit', class: Migration20261201000000RateLimit },
  // After DomainVerification: its owner-run updates of domain rows must not fall under this one's RLS.
  { name: 'Migration20261201100000TenantTaggedTables', class: Migration20261201100000TenantTaggedTables },
  { name: 'Migration20261210000000IdempotencyKeys', class: Migration20261210000000IdempotencyKeys },
  { name: 'Migration20261215000000TenantLifecycle', class: Migration20261215000000TenantLifecycle },
];
