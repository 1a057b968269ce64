import { Migration } from '@mikro-orm/migrations';
import { APP_ROLE, PLATFORM_ROLE, TENANT_SETTING } from '../db/roles.js';

/**
 * The lifecycle's own tenant tables (src/lifecycle): keys leading with `tenant_id`, RLS forced like
 * every table holding a tenant. `tenant_export`: the exports the API ran (status, progress, the file
 * it wrote, when it expires). `tenant_import_checkpoint`: how far `import-tenant` loaded each table,
 * with the running checksums of what it read and wrote, committed with each batch (a kill -9 resumes
 * from it). Neither leaves in an archive; both go with their tenant when it is erased.
 */
export const LIFECYCLE_TABLES = ['tenant_export', 'tenant_import_checkpoint'] as const;

/**
 * Tenant lifecycle (issue 12): a tenant can be erased (`DELETING`, then `DELETED`, the tenant row kept
 * as a tombstone with what was deleted in `deletion`), exported and imported.
 *
 * `ALTER TYPE … ADD VALUE` may run in a transaction, but the new labels cannot be used before it
 * commits: nothing below uses them. The index on `refresh_token (tenant_id)` lets the eraser find a
 * tenant's refresh tokens without scanning every tenant's (every other table holding `tenant_id` has an
 * index leading with it already).
 */
export class Migration20261215000000TenantLifecycle extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter type "tenant_status" add value if not exists 'DELETING';`);
    this.addSql(`alter type "tenant_status" add value if not exists 'DELETED';`);
    // {"slug", "requestedAt", "requestedBy", "finishedAt", "rows": {"<table>": n}}: the tombstone.
    this.addSql(`alter table "tenant" add column "deletion" jsonb null;`);
    this.addSql(`create index "refresh_token_tenant_id_index" on "refresh_token" ("tenant_id");`);

    this.addSql(`create table "tenant_export" (
      "tenant_id" uuid not null,
      "id" uuid not null,
      "status" varchar(16) not null default 'QUEUED',
      "requested_by" uuid null,
      "rows" bigint not null default 0,
      "total_rows" bigint null,
      "bytes" bigint null,
      "sha256" varchar(64) null,
      "error" text null,
      "created_at" timestamptz not null default now(),
      "started_at" timestamptz null,
      "finished_at" timestamptz null,
      "expires_at" timestamptz not null,
      primary key ("tenant_id", "id"),
      constraint "tenant_export_status_check" check ("status" in ('QUEUED', 'RUNNING', 'READY', 'FAILED', 'EXPIRED')));`);
    this.addSql(`alter table "tenant_export" add constraint "tenant_export_tenant_id_foreign" foreign key ("tenant_id") references "tenant" ("id") on update no action on delete cascade;`);

    this.addSql(`create table "tenant_import_checkpoint" (
      "tenant_id" uuid not null,
      "id" uuid not null default gen_random_uuid(),
      "table_name" varchar(63) not null,
      "export_id" uuid not null,
      "archive_rows" bigint not null default 0,
      "archive_sum_hi" numeric not null default 0,
      "archive_sum_lo" numeric not null default 0,
      "inserted_rows" bigint not null default 0,
      "inserted_sum_hi" numeric not null default 0,
      "inserted_sum_lo" numeric not null default 0,
      "done" boolean not null default false,
      "updated_at" timestamptz not null default now(),
      primary key ("tenant_id", "id"));`);
    this.addSql(`alter table "tenant_import_checkpoint" add constraint "tenant_import_checkpoint_tenant_id_table_name_unique" unique ("tenant_id", "table_name");`);
    this.addSql(`alter table "tenant_import_checkpoint" add constraint "tenant_import_checkpoint_tenant_id_foreign" foreign key ("tenant_id") references "tenant" ("id") on update no action on delete cascade;`);

    for (const table of LIFECYCLE_TABLES) {
      this.addSql(`grant select, insert, update, delete on "${table}" to ${APP_ROLE}, ${PLATFORM_ROLE};`);
      this.addSql(`alter table "${table}" enable row level security;`);
      this.addSql(`alter table "${table}" force row level security;`);
      this.addSql(`create policy "${table}_tenant_isolation" on "${table}" to ${APP_ROLE} using ("tenant_id" = current_setting('${TENANT_SETTING}')::uuid) with check ("tenant_id" = current_setting('${TENANT_SETTING}')::uuid);`);
      this.addSql(`create policy "${table}_platform_access" on "${table}" to ${PLATFORM_ROLE} using (true) with check (true);`);
    }
  }
}
