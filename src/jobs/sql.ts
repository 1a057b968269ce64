import { TenantStatus } from '../entities/Tenant.js';

/**
 * The SQL of the background jobs (preparation, recovery, the tenant event bus). `?` placeholders
 * (MikroORM's `em.execute`); each statement runs in the transaction the caller opened, most of them in
 * the tenant's scope, where RLS lets them see and write that tenant's rows only.
 */

/** The NOTIFY channel of tenant events (lifecycle changes every process hears). */
export const TENANT_EVENTS_CHANNEL = 'tenantry_tenant_events';

/** Subscribes the event bus's own connection to the channel. */
export const LISTEN_TENANT_EVENTS = `listen ${TENANT_EVENTS_CHANNEL}`;

/** What the event bus's ping sends: any answer shows the connection alive. */
export const PING = 'select 1';

/**
 * Queues an event for delivery at commit, tagged with the transaction's id (listeners order a tenant's
 * events and match them with the snapshots they read). Params: channel, the event as JSON.
 */
export const NOTIFY_TENANT_EVENT = `select pg_notify(?, (?::jsonb || jsonb_build_object('xid', pg_current_xact_id()::text))::text)`;

/**
 * The tenant's own `<slug>.<BASE_DOMAIN>` row: verified, active, primary when the tenant has no primary
 * yet; nothing when the hostname is already there (a rerun, or a row verified before BASE_DOMAIN
 * covered it). Params: tenant id, hostname, tenant id.
 */
export const INSERT_PLATFORM_DOMAIN = `insert into "domain" (id, tenant_id, hostname, is_primary, is_active, verified_at, created_at)
  values (gen_random_uuid(), ?, ?, not exists (select 1 from "domain" where tenant_id = ? and is_primary), true, now(), now())
  on conflict do nothing`;

/** The tenant's order counter at 0, unless it has one. Params: tenant id. */
export const INSERT_ORDER_COUNTER = 'insert into order_counter (tenant_id, id, last_number) values (?, gen_random_uuid(), 0) on conflict (tenant_id) do nothing';

/** Tenants whose preparation has not finished (recovery re-enqueues their jobs). No params. */
export const UNFINISHED_TENANTS = `select id from tenant where status in ('${TenantStatus.PENDING}', '${TenantStatus.PREPARING}')`;

/**
 * Whether the schema migrator or import-tenant is filling the tenant (it has checkpoints of either):
 * they own its lifecycle then. Params: tenant id, tenant id.
 */
export const TENANT_BEING_FILLED = `select exists (select 1 from migration_checkpoint where tenant_id = ?)
  or exists (select 1 from tenant_import_checkpoint where tenant_id = ?) as migrating`;
