import { Migration } from '@mikro-orm/migrations';
import { APP_ROLE, PLATFORM_ROLE } from '../db/roles.js';

/**
 * Checkpoints of the schema-per-tenant migrator (src/migrate): one row per migrated tenant and table.
 * A copy batch and the checkpoint that records it commit in the same transaction, so a kill at any
 * point leaves either both or neither. Shared table (no tenant data, no RLS): it only holds legacy ids
 * and counters, and rows go with their tenant.
 */
export class Migration20261125010000Migrator extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create table "migration_checkpoint" (
      "tenant_id" uuid not null,
      "table_name" varchar(63) not null,
      "source_schema" text not null,
      "last_legacy_id" bigint null,
      "rows_copied" bigint not null default 0,
      "skip_invalid" boolean not null default false,
      "done" boolean not null default false,
      "started_at" timestamptz not null default now(),
      "updated_at" timestamptz not null default now(),
      "verified_at" timestamptz null,
      primary key ("tenant_id", "table_name"));`);
    this.addSql(`alter table "migration_checkpoint" add constraint "migration_checkpoint_tenant_id_foreign" foreign key ("tenant_id") references "tenant" ("id") on update no action on delete cascade;`);
    this.addSql(`grant select, insert, update, delete on "migration_checkpoint" to ${APP_ROLE}, ${PLATFORM_ROLE};`);
  }
}
