import { Migration } from '@mikro-orm/migrations';
import { APP_ROLE, PLATFORM_ROLE, TENANT_SETTING } from '../db/roles.js';

/** Tenant-owned tables of the migrator's report: every row carries `tenant_id`, RLS forced. */
export const MIGRATOR_REPORT_TABLES = ['migration_skipped_row', 'migration_note'] as const;

/**
 * What a migrate-schemas run found out while writing, kept next to `migration_checkpoint` so that it
 * outlives the run: the rows `--skip-orphans` left out and the notes on a tenant (its hostname was
 * taken, rows were already in the target). Each is written in the transaction of the write that
 * produced it, so after a kill at any point the final run still reports everything.
 *
 * Both hold legacy tenant data, so they are tenant tables like Init's: keys leading with `tenant_id`,
 * rows going with their tenant, RLS forced with the same two policies (spelled out here: a migration
 * must not change when a later one's helper does).
 */
export class Migration20261126000000MigratorReport extends Migration {
  override async up(): Promise<void> {
    // legacy_id is NULL for a legacy row without id (skipped: the id is required).
    this.addSql(`create table "migration_skipped_row" (
      "tenant_id" uuid not null,
      "id" uuid not null default gen_random_uuid(),
      "table_name" varchar(63) not null,
      "legacy_id" bigint null,
      "reasons" text[] not null,
      "row" json not null,
      "skipped_at" timestamptz not null default now(),
      primary key ("tenant_id", "id"));`);
    // A legacy row is recorded once: the batch that skips it moves the checkpoint past it.
    this.addSql(`create unique index "migration_skipped_row_tenant_id_table_name_legacy_id_unique" on "migration_skipped_row" ("tenant_id", "table_name", "legacy_id");`);
    this.addSql(`alter table "migration_skipped_row" add constraint "migration_skipped_row_tenant_id_foreign" foreign key ("tenant_id") references "tenant" ("id") on update no action on delete cascade;`);

    // kind: what happened; subject: the hostname or table it concerns; row_count: rows it concerns.
    this.addSql(`create table "migration_note" (
      "tenant_id" uuid not null,
      "id" uuid not null default gen_random_uuid(),
      "kind" varchar(32) not null,
      "subject" text not null,
      "row_count" bigint not null default 0,
      "noted_at" timestamptz not null default now(),
      primary key ("tenant_id", "id"));`);
    this.addSql(`create unique index "migration_note_tenant_id_kind_subject_unique" on "migration_note" ("tenant_id", "kind", "subject");`);
    this.addSql(`alter table "migration_note" add constraint "migration_note_tenant_id_foreign" foreign key ("tenant_id") references "tenant" ("id") on update no action on delete cascade;`);

    for (const table of MIGRATOR_REPORT_TABLES) {
      this.addSql(`grant select, insert, update, delete on "${table}" to ${APP_ROLE}, ${PLATFORM_ROLE};`);
      this.addSql(`alter table "${table}" enable row level security;`);
      this.addSql(`alter table "${table}" force row level security;`);
      this.addSql(`create policy "${table}_tenant_isolation" on "${table}" to ${APP_ROLE} using ("tenant_id" = current_setting('${TENANT_SETTING}')::uuid) with check ("tenant_id" = current_setting('${TENANT_SETTING}')::uuid);`);
      this.addSql(`create policy "${table}_platform_access" on "${table}" to ${PLATFORM_ROLE} using (true) with check (true);`);
    }
  }
}
