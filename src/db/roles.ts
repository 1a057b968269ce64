/**
 * Database roles. The owner (whoever `DATABASE_URL` names) runs migrations and owns the tables.
 *
 * - APP_ROLE: what the server logs in as. Not the owner, not a superuser, no BYPASSRLS, and NOINHERIT,
 *   so membership in PLATFORM_ROLE grants nothing until `SET LOCAL ROLE` asks for it.
 * - PLATFORM_ROLE: NOLOGIN; its RLS policies allow every row. Only `asPlatform` takes it.
 * - HOST_LOOKUP_ROLE: NOLOGIN, owns nothing but the SECURITY DEFINER function that maps a request's
 *   Host to a tenant before any tenant is known; it may read four columns of verified, active domains,
 *   nothing else.
 */
export const APP_ROLE = 'tenantry_app';
export const PLATFORM_ROLE = 'tenantry_platform';
export const HOST_LOOKUP_ROLE = 'tenantry_host_lookup';

/** The transaction-local setting that RLS policies compare `tenant_id` with. */
export const TENANT_SETTING = 'app.tenant_id';

/** SECURITY DEFINER function (owned by HOST_LOOKUP_ROLE): the tenant id of a verified, active domain's hostname, or null. */
export const HOST_LOOKUP_FUNCTION = 'tenant_for_hostname';
