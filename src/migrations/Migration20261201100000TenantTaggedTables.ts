import { Migration } from '@mikro-orm/migrations';
import { APP_ROLE, HOST_LOOKUP_FUNCTION, HOST_LOOKUP_ROLE, PLATFORM_ROLE, TENANT_SETTING } from '../db/roles.js';

/**
 * Tables whose rows carry a tenant but which were not built as tenant-owned ones (for most the primary
 * key is `id` alone, and for some the tenant may be null: superadmins, their refresh tokens, platform
 * audit events; their Citus kinds: docs/scale-out.md). Their rows are scoped like tenant-owned rows:
 * forced RLS keyed on the same transaction-local setting, and (for the entities among them) the same ORM
 * filter and write guard. A row whose tenant is null matches no tenant: only the platform role
 * (`asPlatform`, audited) reaches it.
 */
export const TENANT_TAGGED_TABLES = ['domain', 'user', 'refresh_token', 'audit_event', 'migration_checkpoint'] as const;

/**
 * Puts users, domains, refresh tokens, audit events and the migrator's checkpoints behind both walls
 * (issue 9), adds `user.is_active`, gives refresh tokens their tenant, and adds the one narrow way to
 * map a Host to a tenant before any tenant is known. Runs after DomainVerification, whose owner-run
 * updates of domain rows would otherwise fall under this RLS (a non-superuser owner sees no row).
 */
export class Migration20261201100000TenantTaggedTables extends Migration {
  override async up(): Promise<void> {
    // Accounts can be deactivated (setUserActive); a deactivated user cannot log in, refresh or act.
    this.addSql(`alter table "user" add column "is_active" boolean not null default true;`);
    // Lets a refresh token reference its user *within its tenant* (composite FK below).
    this.addSql(`alter table "user" add constraint "user_tenant_id_id_unique" unique ("tenant_id", "id");`);

    // Refresh tokens get their user's tenant (null for superadmins), so RLS can key on it.
    this.addSql(`alter table "refresh_token" add column "tenant_id" uuid null;`);
    this.addSql(`update "refresh_token" r set "tenant_id" = u."tenant_id" from "user" u where u."id" = r."user_id";`);
    // A refresh token now names its scope (`<tenant id or "platform">.<secret>`, hashed whole), so one
    // issued before this migration can never be presented successfully again: say so in the table too.
    this.addSql(`update "refresh_token" set "revoked_at" = now() where "revoked_at" is null;`);
    this.addSql(`alter table "refresh_token" add constraint "refresh_token_tenant_id_foreign" foreign key ("tenant_id") references "tenant" ("id") on update no action on delete cascade;`);
    // A tenant's refresh token can only name a user of the same tenant (MATCH SIMPLE: platform rows,
    // tenant null, are checked by the plain user FK; only the platform role can write them).
    this.addSql(`alter table "refresh_token" add constraint "refresh_token_tenant_id_user_id_foreign" foreign key ("tenant_id", "user_id") references "user" ("tenant_id", "id") on update no action on delete cascade;`);

    // Row-level security, as on the tenant-owned tables (see the Init migration for why the setting is
    // read without `missing_ok`). Grants were given when the tables were created.
    for (const table of TENANT_TAGGED_TABLES) {
      this.addSql(`alter table "${table}" enable row level security;`);
      this.addSql(`alter table "${table}" force row level security;`);
      this.addSql(`create policy "${table}_tenant_isolation" on "${table}" to ${APP_ROLE} using ("tenant_id" = current_setting('${TENANT_SETTING}')::uuid) with check ("tenant_id" = current_setting('${TENANT_SETTING}')::uuid);`);
      this.addSql(`create policy "${table}_platform_access" on "${table}" to ${PLATFORM_ROLE} using (true) with check (true);`);
    }

    // Host → tenant before any tenant is known (every anonymous request on a custom domain). Opening the
    // escape hatch for it would write an audit event per request; instead one SECURITY DEFINER function
    // answers exactly one question (the tenant id of a verified, active hostname) as a role that can read
    // four columns of verified, active domains and nothing else. `domain_routes_only_verified` already
    // keeps an active domain verified; the lookup asks for both anyway, so a claim can never route even
    // if that check were dropped, and the verified-hostname unique index makes the answer unique.
    // Owned by that role, not by the owner: RLS applies to it like to the app (a superuser owner would
    // skip RLS silently), and nothing in it runs as the owner. `search_path` is pinned so no object of a
    // writable schema can stand in for the catalog's.
    this.addSql(`do $$ begin
      if not exists (select 1 from pg_roles where rolname = '${HOST_LOOKUP_ROLE}') then create role ${HOST_LOOKUP_ROLE} nologin nosuperuser nobypassrls noinherit; end if;
    end $$;`);
    this.addSql(`grant usage on schema public to ${HOST_LOOKUP_ROLE};`);
    this.addSql(`grant select ("hostname", "tenant_id", "is_active", "verified_at") on "domain" to ${HOST_LOOKUP_ROLE};`);
    this.addSql(`create policy "domain_host_lookup" on "domain" for select to ${HOST_LOOKUP_ROLE} using ("is_active" and "verified_at" is not null);`);
    this.addSql(`create function public.${HOST_LOOKUP_FUNCTION}(host text) returns uuid language sql stable security definer set search_path = pg_catalog, pg_temp as $$ select d.tenant_id from public.domain d where d.hostname = host and d.is_active and d.verified_at is not null $$;`);
    // Who may call it is set while the owner still owns it; a change of owner carries the grants over.
    this.addSql(`revoke all on function public.${HOST_LOOKUP_FUNCTION}(text) from public;`);
    this.addSql(`grant execute on function public.${HOST_LOOKUP_FUNCTION}(text) to ${APP_ROLE};`);
    // Handing the function over takes, for a moment, what a non-superuser owner needs for it: membership
    // in the new owner (one may only give objects to roles one belongs to) and CREATE on the schema for
    // that role (a new owner must be able to create the object). Both are taken back at once.
    this.addSql(`grant create on schema public to ${HOST_LOOKUP_ROLE};`);
    this.addSql(`grant ${HOST_LOOKUP_ROLE} to current_user;`);
    this.addSql(`alter function public.${HOST_LOOKUP_FUNCTION}(text) owner to ${HOST_LOOKUP_ROLE};`);
    this.addSql(`revoke ${HOST_LOOKUP_ROLE} from current_user;`);
    this.addSql(`revoke create on schema public from ${HOST_LOOKUP_ROLE};`);
  }
}
