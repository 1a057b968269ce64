import type { EntityManager } from '@mikro-orm/postgresql';
import type { Orm } from '../db/orm.js';
import { Domain } from '../entities/Domain.js';
import { Tenant, TenantStatus } from '../entities/Tenant.js';
import { inTenant } from '../filters/inTenant.js';
import { TenantEvents } from './tenantEvents.js';

/** One idempotent preparation step: safe to run again after a crash at any point. */
export interface PreparationStep {
  readonly name: string;
  run(em: EntityManager, tenant: Tenant, baseDomain: string): Promise<void>;
}

/** The tenant's primary domain `<slug>.<BASE_DOMAIN>`, unless it already has one. */
const primaryDomain: PreparationStep = {
  name: 'primary-domain',
  async run(em, tenant, baseDomain) {
    const hostname = `${tenant.slug}.${baseDomain}`;
    if (await em.count(Domain, { hostname })) return;
    const hasPrimary = (await em.count(Domain, { tenant, isPrimary: true })) > 0;
    em.create(Domain, { tenant, hostname, isPrimary: !hasPrimary });
    await em.flush();
  },
};

/** The row order numbers are taken from (starts at 0: the first order is number 1). */
const orderCounter: PreparationStep = {
  name: 'order-counter',
  async run(em, tenant) {
    await em.execute(
      'insert into order_counter (tenant_id, id, last_number) values (?, gen_random_uuid(), 0) on conflict (tenant_id) do nothing',
      [tenant.id],
    );
  },
};

export const PREPARATION_STEPS: readonly PreparationStep[] = [primaryDomain, orderCounter];

/**
 * Moves a tenant PENDING/FAILED → PREPARING → READY, each transition committed together with its
 * NOTIFY. Runs inside the tenant's own scope (filter and RLS on), never the platform escape hatch.
 * Throws if a step fails; the caller (the job queue) decides between retry and FAILED.
 */
export async function prepareTenant(orm: Orm, tenantId: string, baseDomain: string, steps: readonly PreparationStep[] = PREPARATION_STEPS): Promise<void> {
  const started = await inTenant(orm, tenantId, async (em) => {
    const tenant = await em.findOne(Tenant, tenantId);
    if (!tenant || tenant.status === TenantStatus.READY) return false;
    if (tenant.status !== TenantStatus.PREPARING) {
      tenant.status = TenantStatus.PREPARING;
      tenant.statusError = null;
      tenant.preparationStartedAt = new Date();
      tenant.preparationCompletedAt = null;
      await em.flush();
      await publishStatus(em, tenant);
    }
    return true;
  });
  if (!started) return;

  for (const step of steps) {
    await inTenant(orm, tenantId, async (em) => step.run(em, await em.findOneOrFail(Tenant, tenantId), baseDomain));
  }

  await inTenant(orm, tenantId, async (em) => {
    const tenant = await em.findOneOrFail(Tenant, tenantId);
    tenant.status = TenantStatus.READY;
    tenant.statusError = null;
    tenant.preparationCompletedAt = new Date();
    await em.flush();
    await publishStatus(em, tenant);
  });
}

/** Marks the tenant FAILED with a readable reason (after the last attempt). */
export async function failTenant(orm: Orm, tenantId: string, reason: string): Promise<void> {
  await inTenant(orm, tenantId, async (em) => {
    const tenant = await em.findOne(Tenant, tenantId);
    if (!tenant || tenant.status === TenantStatus.READY) return;
    tenant.status = TenantStatus.FAILED;
    tenant.statusError = reason.slice(0, 1000);
    await em.flush();
    await publishStatus(em, tenant);
  });
}

export function publishStatus(em: EntityManager, tenant: Tenant): Promise<void> {
  return TenantEvents.publish(em, {
    type: 'status',
    tenantId: tenant.id,
    status: tenant.status,
    error: tenant.statusError ?? null,
    at: new Date().toISOString(),
  });
}
