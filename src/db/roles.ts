/**
 * Database roles. The owner (whoever `DATABASE_URL` names) runs migrations and owns the tables.
 *
 * - APP_ROLE: what the server logs in as. Not the owner, not a superuser, no BYPASSRLS, and NOINHERIT,
 *   so membership in PLATFORM_ROLE grants nothing until `SET LOCAL ROLE` asks for it.
 * - PLATFORM_ROLE: NOLOGIN; its RLS policies allow every row. Only `asPlatform` takes it.
 */
export const APP_ROLE = 'tenantry_app';
export const PLATFORM_ROLE = 'tenantry_platform';

/** The transaction-local setting that RLS policies compare `tenant_id` with. */
export const TENANT_SETTING = 'app.tenant_id';
