import type { EntityManager } from '@mikro-orm/postgresql';
import type { Orm } from '../db/orm.js';
import { platformHostname } from '../domains/hostnames.js';
import { TenantEvents } from '../jobs/tenantEvents.js';
import { TenantStatus } from '../entities/index.js';
import { markVerified } from './checkpoints.js';
import { recordNote } from './notes.js';
import { rowIdFor } from './ids.js';
import type { LegacyTenant } from './registry.js';
import { baseSlug, uniqueSlug } from './slug.js';
import { txQuery } from './sql.js';
import { platformWrite } from './write.js';

export interface TenantRow {
  readonly id: string;
  readonly slug: string;
  readonly status: TenantStatus;
}

/** The tenant row, if the migrator (or anyone) created it. Shared table: no bypass needed to read. */
export async function findTenant(orm: Orm, tenantId: string): Promise<TenantRow | undefined> {
  const em = orm.em.fork() as EntityManager;
  return em.transactional(async (tx) => {
    const { rows } = await txQuery<TenantRow>(tx, `select id, slug, status from "tenant" where id = $1`, [tenantId]);
    return rows[0];
  });
}

/** Every slug in use, to pick new ones against. */
export async function takenSlugs(orm: Orm): Promise<Set<string>> {
  const em = orm.em.fork() as EntityManager;
  return em.transactional(async (tx) => new Set((await txQuery<{ slug: string }>(tx, `select slug from "tenant"`)).rows.map((r) => r.slug)));
}

/**
 * The slug each legacy tenant gets: existing tenants keep theirs; new ones get `baseSlug` made unique,
 * in registry order, so a dry run shows what the real run will do and reruns agree.
 */
export async function assignSlugs(orm: Orm, tenants: readonly { legacy: LegacyTenant; tenantId: string }[], stripPrefix: string): Promise<Map<string, string>> {
  const taken = await takenSlugs(orm);
  const em = orm.em.fork() as EntityManager;
  const existing = await em.transactional(async (tx) => {
    const { rows } = await txQuery<{ id: string; slug: string }>(tx, `select id, slug from "tenant" where id = any($1::uuid[])`, [tenants.map((t) => t.tenantId)]);
    return new Map(rows.map((r) => [r.id, r.slug]));
  });
  const slugs = new Map<string, string>();
  for (const { legacy, tenantId } of tenants) {
    let slug = existing.get(tenantId);
    if (!slug) {
      slug = uniqueSlug(baseSlug(legacy.schema, legacy.legacyId, stripPrefix), (s) => taken.has(s));
      taken.add(slug);
    }
    slugs.set(tenantId, slug);
  }
  return slugs;
}

/**
 * Creates the tenant of a legacy schema, PREPARING (its data is not served until READY), with the
 * slug derived from the schema name, its primary domain `<slug>.<BASE_DOMAIN>` (or, when someone owns
 * that hostname, a note saying so) and an empty checkpoint per table, in one transaction. Idempotent: an
 * existing tenant is returned as it is (its slug is never recomputed). `slug` comes from `assignSlugs`;
 * the unique constraint on `slug` is the backstop against anyone taking it meanwhile.
 */
export async function ensureTenant(
  orm: Orm,
  legacy: LegacyTenant,
  tenantId: string,
  options: { baseDomain: string; slug: string; schema: string; tables: readonly string[] },
): Promise<{ tenant: TenantRow; created: boolean }> {
  const existing = await findTenant(orm, tenantId);
  if (existing) return { tenant: existing, created: false };
  const slug = options.slug;
  const hostname = platformHostname(slug, options.baseDomain);
  await platformWrite(
    orm,
    { action: 'migrate.tenant', tenantId, target: `legacy ${legacy.legacyId} schema ${legacy.schema} -> ${slug}` },
    async (tx) => {
      await txQuery(
        tx,
        `insert into "tenant" (id, name, slug, is_active, status, preparation_started_at, created_at)
         values ($1, $2, $3, true, $4, now(), now())`,
        [tenantId, legacy.name.slice(0, 200), slug, TenantStatus.PREPARING],
      );
      const { affected } = await txQuery(
        tx,
        // Verified: the tenant's own name. Conflicts only with a row another tenant verified under that
        // name before BASE_DOMAIN covered it; the tenant then goes without (see prepareTenant.ts).
        `insert into "domain" (id, tenant_id, hostname, is_primary, is_active, verified_at, created_at) values ($1, $2, $3, true, true, now(), now())
         on conflict do nothing`,
        [rowIdFor(tenantId, 'domain', 'primary'), tenantId, hostname],
      );
      if (affected === 0) await recordNote(tx, tenantId, { kind: 'hostname-taken', hostname });
      // Checkpoint rows from the start: a tenant that has them is the migrator's (see docs/migrate.md).
      await txQuery(
        tx,
        `insert into "migration_checkpoint" (tenant_id, table_name, source_schema) select $1, t, $2 from unnest($3::text[]) t on conflict do nothing`,
        [tenantId, options.schema, options.tables],
      );
    },
  );
  return { tenant: { id: tenantId, slug, status: TenantStatus.PREPARING }, created: true };
}

/**
 * The last write of a migrated tenant, one transaction: the order counter set to at least `counterAtLeast`
 * and the highest migrated order number (new orders continue after every legacy number, skipped legacy
 * orders included: numbers are never reused), the verified tables stamped, and, when every table is
 * copied, the tenant READY and active.
 */
export async function finishTenant(
  orm: Orm,
  tenantId: string,
  step: { counterAtLeast: number | null; verifiedTables: readonly string[]; ready: boolean },
): Promise<void> {
  await platformWrite(orm, { action: step.ready ? 'migrate.ready' : 'migrate.verified', tenantId, target: step.verifiedTables.join(',') }, async (tx) => {
    if (step.counterAtLeast !== null) {
      await txQuery(
        tx,
        `insert into "order_counter" (tenant_id, id, last_number)
         select $1::uuid, $2::uuid, greatest($3::int, coalesce((select max("number") from "order" where tenant_id = $1), 0))
         on conflict (tenant_id) do update set last_number = greatest("order_counter".last_number, excluded.last_number)`,
        [tenantId, rowIdFor(tenantId, 'order_counter', 'counter'), step.counterAtLeast],
      );
    }
    await markVerified(tx, tenantId, step.verifiedTables);
    if (step.ready) {
      const { affected } = await txQuery(
        tx,
        `update "tenant" set status = $2, is_active = true, status_error = null, preparation_completed_at = now() where id = $1 and status <> $2`,
        [tenantId, TenantStatus.READY],
      );
      if (affected) await announce(tx, tenantId, TenantStatus.READY, null);
    }
  });
}

/**
 * FAILED with the reason, unless already READY: a tenant in use is never taken offline by a re-run
 * (its mismatch is reported instead).
 */
export async function markFailed(orm: Orm, tenantId: string, reason: string): Promise<void> {
  await platformWrite(orm, { action: 'migrate.failed', tenantId, target: reason.slice(0, 500) }, async (tx) => {
    const { affected } = await txQuery(tx, `update "tenant" set status = $2, status_error = $3 where id = $1 and status <> $4`, [
      tenantId,
      TenantStatus.FAILED,
      reason.slice(0, 2000),
      TenantStatus.READY,
    ]);
    if (affected) await announce(tx, tenantId, TenantStatus.FAILED, reason.slice(0, 2000));
  });
}

/** Status changes reach `tenantStatusChanged` subscribers like the provisioning worker's: NOTIFY at commit. */
function announce(tx: EntityManager, tenantId: string, status: TenantStatus, error: string | null): Promise<void> {
  return TenantEvents.publish(tx, { type: 'status', tenantId, status, error, at: new Date().toISOString() });
}
