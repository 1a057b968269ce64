import { Migration } from '@mikro-orm/migrations';
import { CLAIM_TTL_DAYS } from '../domains/claims.js';

/** The session setting through which `migrate()` hands this migration the deployment's BASE_DOMAIN. */
export const BASE_DOMAIN_SETTING = 'tenantry.base_domain';

/**
 * Custom domains are verified before they route anything (issue 9): a domain is an unverified claim
 * with a token and a deadline until its DNS TXT record proves it; only verified hostnames are unique
 * across tenants, so a claim blocks nobody and says nothing about anyone else's.
 *
 * Rows from before were active the moment they were added, unproven. Each tenant's own
 * `<slug>.<BASE_DOMAIN>` stays verified (its by construction); every other row becomes an unverified
 * claim with a fresh token and the usual deadline, so a custom domain routes again once its owner
 * publishes the record, and a name squatted under BASE_DOMAIN can never be verified and expires.
 * Telling the two apart needs BASE_DOMAIN, which only the application knows: a database that holds
 * domains is refused rather than guessed at when it is missing.
 */
export class Migration20261126100000DomainVerification extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "domain"
      add column "verified_at" timestamptz null,
      add column "verification_token" varchar(64) null,
      add column "verification_expires_at" timestamptz null,
      add column "primary_on_verification" boolean not null default false,
      alter column "is_active" set default false;`);

    this.addSql(`do $$
      declare base text := nullif(current_setting('${BASE_DOMAIN_SETTING}', true), '');
      begin
        if base is null and exists (select 1 from "domain") then
          raise exception 'Existing domains need the deployment''s BASE_DOMAIN to be sorted: apply this migration through the server, the worker or the CLI, which pass it';
        end if;
        update "domain" d set "verified_at" = d."created_at", "is_active" = true
          from "tenant" t where t."id" = d."tenant_id" and d."hostname" = t."slug" || '.' || base;
        update "domain" set "is_active" = false, "is_primary" = false, "primary_on_verification" = "is_primary",
               "verification_token" = replace(gen_random_uuid()::text, '-', ''),
               "verification_expires_at" = now() + interval '${CLAIM_TTL_DAYS} days'
         where "verified_at" is null;
        update "domain" d set "is_primary" = true
         where d."verified_at" is not null
           and not exists (select 1 from "domain" p where p."tenant_id" = d."tenant_id" and p."is_primary");
      end $$;`);

    this.addSql(`alter table "domain" drop constraint "domain_hostname_unique";`);
    this.addSql(`drop index "domain_tenant_id_index";`);
    this.addSql(`alter table "domain" add constraint "domain_tenant_id_hostname_unique" unique ("tenant_id", "hostname");`);
    this.addSql(`create unique index "domain_verified_hostname_unique" on "domain" ("hostname") where "verified_at" is not null;`);
    this.addSql(`alter table "domain" add constraint "domain_claim_has_token" check ("verified_at" is not null or ("verification_token" is not null and "verification_expires_at" is not null));`);
    this.addSql(`alter table "domain" add constraint "domain_routes_only_verified" check ("verified_at" is not null or not ("is_active" or "is_primary"));`);
  }
}
