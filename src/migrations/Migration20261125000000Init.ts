import { Migration } from '@mikro-orm/migrations';
import { APP_ROLE, PLATFORM_ROLE, TENANT_SETTING } from '../db/roles.js';

/** Tenant-owned tables: row-level security forced, every row carries `tenant_id`. */
export const TENANT_TABLES = ['product', 'customer', 'order', 'order_line', 'order_counter'] as const;
const SHARED_TABLES = ['tenant', 'domain', 'user', 'refresh_token', 'audit_event'] as const;

/**
 * The initial schema: tables (as the entities declare them), the two roles, grants, and RLS.
 * Runs as the database owner. Roles are cluster-wide, so creating them is idempotent.
 */
export class Migration20261125000000Init extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create type "tenant_status" as enum ('PENDING', 'PREPARING', 'READY', 'FAILED');`);
    this.addSql(`create type "order_status" as enum ('OPEN', 'PAID', 'CANCELLED');`);
    this.addSql(`create type "user_role" as enum ('SUPERADMIN', 'ADMIN', 'MEMBER');`);

    // Shared and tenant-tagged tables (their Citus kinds: docs/scale-out.md).
    this.addSql(`create table "tenant" ("id" uuid not null, "name" varchar(200) not null, "slug" varchar(40) not null, "is_active" boolean not null default true, "status" "tenant_status" not null default 'PENDING', "status_error" text null, "preparation_started_at" timestamptz null, "preparation_completed_at" timestamptz null, "created_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`alter table "tenant" add constraint "tenant_slug_unique" unique ("slug");`);
    this.addSql(`create index "tenant_created_at_id_index" on "tenant" ("created_at", "id");`);
    this.addSql(`create index "tenant_status_created_at_index" on "tenant" ("status", "created_at");`);

    this.addSql(`create table "domain" ("id" uuid not null, "tenant_id" uuid not null, "hostname" varchar(253) not null, "is_primary" boolean not null default false, "is_active" boolean not null default true, "created_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`alter table "domain" add constraint "domain_hostname_unique" unique ("hostname");`);
    this.addSql(`create index "domain_tenant_id_index" on "domain" ("tenant_id");`);
    this.addSql(`create unique index "domain_one_primary_per_tenant" on "domain" ("tenant_id") where "is_primary";`);
    this.addSql(`alter table "domain" add constraint "domain_tenant_id_foreign" foreign key ("tenant_id") references "tenant" ("id") on update no action on delete cascade;`);

    this.addSql(`create table "user" ("id" uuid not null, "tenant_id" uuid null, "email" varchar(320) not null, "role" "user_role" not null, "password_hash" text not null, "created_at" timestamptz not null, primary key ("id"), constraint "user_superadmin_has_no_tenant" check (("role" = 'SUPERADMIN') = ("tenant_id" is null)));`);
    // One account per email per tenant, case-insensitively; superadmins (no tenant) share one namespace.
    this.addSql(`create unique index "user_tenant_email_unique" on "user" (coalesce("tenant_id", '00000000-0000-0000-0000-000000000000'::uuid), lower("email"));`);
    this.addSql(`alter table "user" add constraint "user_tenant_id_foreign" foreign key ("tenant_id") references "tenant" ("id") on update no action on delete cascade;`);

    this.addSql(`create table "refresh_token" ("id" uuid not null, "user_id" uuid not null, "family_id" uuid not null, "token_hash" varchar(64) not null, "expires_at" timestamptz not null, "spent_at" timestamptz null, "revoked_at" timestamptz null, "created_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`alter table "refresh_token" add constraint "refresh_token_token_hash_unique" unique ("token_hash");`);
    this.addSql(`create index "refresh_token_family_id_index" on "refresh_token" ("family_id");`);
    this.addSql(`create index "refresh_token_user_id_index" on "refresh_token" ("user_id");`);
    this.addSql(`alter table "refresh_token" add constraint "refresh_token_user_id_foreign" foreign key ("user_id") references "user" ("id") on update no action on delete cascade;`);

    this.addSql(`create table "audit_event" ("id" uuid not null, "action" varchar(100) not null, "actor_id" uuid null, "tenant_id" uuid null, "target" text null, "at" timestamptz not null, primary key ("id"));`);
    this.addSql(`create index "audit_event_tenant_id_at_index" on "audit_event" ("tenant_id", "at");`);
    this.addSql(`create index "audit_event_at_index" on "audit_event" ("at");`);

    // Tenant-owned tables: PK, uniques, indexes and FKs all lead with tenant_id (Citus distribution column).
    this.addSql(`create table "product" ("tenant_id" uuid not null, "id" uuid not null, "sku" varchar(64) not null, "name" varchar(200) not null, "price_cents" int not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, primary key ("tenant_id", "id"));`);
    this.addSql(`alter table "product" add constraint "product_tenant_id_sku_unique" unique ("tenant_id", "sku");`);
    this.addSql(`alter table "product" add constraint "product_tenant_id_foreign" foreign key ("tenant_id") references "tenant" ("id") on update no action on delete cascade;`);

    this.addSql(`create table "customer" ("tenant_id" uuid not null, "id" uuid not null, "name" varchar(200) not null, "email" varchar(320) null, "created_at" timestamptz not null, primary key ("tenant_id", "id"));`);
    this.addSql(`create index "customer_tenant_id_name_id_index" on "customer" ("tenant_id", "name", "id");`);
    this.addSql(`alter table "customer" add constraint "customer_tenant_id_foreign" foreign key ("tenant_id") references "tenant" ("id") on update no action on delete cascade;`);

    this.addSql(`create table "order" ("tenant_id" uuid not null, "id" uuid not null, "number" int not null, "status" "order_status" not null default 'OPEN', "customer_id" uuid not null, "total_cents" int not null, "created_at" timestamptz not null, primary key ("tenant_id", "id"));`);
    this.addSql(`create index "order_tenant_id_created_at_index" on "order" ("tenant_id", "created_at");`);
    this.addSql(`create index "order_tenant_id_customer_id_number_index" on "order" ("tenant_id", "customer_id", "number");`);
    this.addSql(`create index "order_tenant_id_status_number_index" on "order" ("tenant_id", "status", "number");`);
    this.addSql(`alter table "order" add constraint "order_tenant_id_number_unique" unique ("tenant_id", "number");`);
    this.addSql(`alter table "order" add constraint "order_tenant_id_foreign" foreign key ("tenant_id") references "tenant" ("id") on update no action on delete cascade;`);
    this.addSql(`alter table "order" add constraint "order_tenant_id_customer_id_foreign" foreign key ("tenant_id", "customer_id") references "customer" ("tenant_id", "id") on update no action on delete no action;`);

    this.addSql(`create table "order_line" ("tenant_id" uuid not null, "id" uuid not null, "order_id" uuid not null, "product_id" uuid not null, "quantity" int not null, "unit_price_cents" int not null, primary key ("tenant_id", "id"));`);
    this.addSql(`create index "order_line_tenant_id_product_id_index" on "order_line" ("tenant_id", "product_id");`);
    this.addSql(`create index "order_line_tenant_id_order_id_index" on "order_line" ("tenant_id", "order_id");`);
    this.addSql(`alter table "order_line" add constraint "order_line_tenant_id_foreign" foreign key ("tenant_id") references "tenant" ("id") on update no action on delete cascade;`);
    this.addSql(`alter table "order_line" add constraint "order_line_tenant_id_order_id_foreign" foreign key ("tenant_id", "order_id") references "order" ("tenant_id", "id") on update no action on delete cascade;`);
    this.addSql(`alter table "order_line" add constraint "order_line_tenant_id_product_id_foreign" foreign key ("tenant_id", "product_id") references "product" ("tenant_id", "id") on update no action on delete no action;`);

    this.addSql(`create table "order_counter" ("tenant_id" uuid not null, "id" uuid not null, "last_number" int not null default 0, primary key ("tenant_id", "id"));`);
    this.addSql(`alter table "order_counter" add constraint "order_counter_tenant_id_unique" unique ("tenant_id");`);
    this.addSql(`alter table "order_counter" add constraint "order_counter_tenant_id_foreign" foreign key ("tenant_id") references "tenant" ("id") on update no action on delete cascade;`);

    // Roles. NOINHERIT: membership in the platform role is inert until `SET LOCAL ROLE` (asPlatform).
    this.addSql(`do $$ begin
      if not exists (select 1 from pg_roles where rolname = '${PLATFORM_ROLE}') then create role ${PLATFORM_ROLE} nologin nosuperuser nobypassrls; end if;
      if not exists (select 1 from pg_roles where rolname = '${APP_ROLE}') then create role ${APP_ROLE} nologin noinherit nosuperuser nobypassrls; end if;
    end $$;`);
    // A role that already existed keeps its attributes: each one is corrected only when wrong, because
    // naming SUPERUSER or BYPASSRLS in ALTER ROLE at all takes a superuser, and the owner need not be
    // one (README: running on your own PostgreSQL).
    this.addSql(`do $$ begin
      if exists (select 1 from pg_roles where rolname = '${APP_ROLE}' and rolinherit) then alter role ${APP_ROLE} noinherit; end if;
      if exists (select 1 from pg_roles where rolname = '${APP_ROLE}' and (rolsuper or rolbypassrls)) then alter role ${APP_ROLE} nosuperuser nobypassrls; end if;
    end $$;`);
    this.addSql(`grant ${PLATFORM_ROLE} to ${APP_ROLE};`);
    this.addSql(`grant usage on schema public to ${APP_ROLE}, ${PLATFORM_ROLE};`);
    // /readyz compares applied migrations with the code's list.
    this.addSql(`grant select on "mikro_orm_migrations" to ${APP_ROLE};`);
    for (const table of [...SHARED_TABLES, ...TENANT_TABLES]) {
      this.addSql(`grant select, insert, update, delete on "${table}" to ${APP_ROLE}, ${PLATFORM_ROLE};`);
    }

    // Row-level security, forced so even a table owner is subject to it. The tenant setting is read
    // without `missing_ok`: a connection that never had one errors, and one whose transaction ended
    // has '' which fails the uuid cast. Either way: an error, never rows.
    for (const table of TENANT_TABLES) {
      this.addSql(`alter table "${table}" enable row level security;`);
      this.addSql(`alter table "${table}" force row level security;`);
      this.addSql(`create policy "${table}_tenant_isolation" on "${table}" to ${APP_ROLE} using ("tenant_id" = current_setting('${TENANT_SETTING}')::uuid) with check ("tenant_id" = current_setting('${TENANT_SETTING}')::uuid);`);
      this.addSql(`create policy "${table}_platform_access" on "${table}" to ${PLATFORM_ROLE} using (true) with check (true);`);
    }
  }
}
