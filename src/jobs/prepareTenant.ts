import { LockMode } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Orm } from '../db/orm.js';
import { platformHostname } from '../domains/hostnames.js';
import { Tenant, TenantStatus } from '../entities/Tenant.js';
import { inTenant } from '../filters/inTenant.js';
import { INSERT_ORDER_COUNTER, INSERT_PLATFORM_DOMAIN } from './sql.js';
import { TenantEvents } from './tenantEvents.js';

/**
 * One idempotent preparation step: safe to run again after a crash at any point, because it first
 * looks at what is already there. Each step runs in its own transaction inside the tenant's scope
 * (filter and RLS on), so a kill -9 leaves each step either fully done or not at all.
 */
export interface PreparationStep {
  readonly name: string;
  run(em: EntityManager, tenant: Tenant, baseDomain: string): Promise<void>;
}

/**
 * The tenant's own domain `<slug>.<BASE_DOMAIN>`, if missing: verified (its by construction), and
 * primary when the tenant has no primary yet. Requests reach the tenant on that host by its slug
 * whatever this table holds; the row is what `Tenant.domains` lists. Nothing another tenant holds can
 * fail this step: the one index that could refuse the row (verified hostnames) only sees another
 * tenant's row of that name if one was verified before BASE_DOMAIN covered it, and then the tenant goes
 * without the row (`on conflict do nothing`, which also makes a rerun a no-op). It runs in the tenant's
 * scope: RLS lets the insert write this tenant's row only, and the primary check sees this tenant's rows
 * only; the unique indexes see every row whatever RLS shows.
 */
const primaryDomain: PreparationStep = {
  name: 'primary-domain',
  async run(em, tenant, baseDomain) {
    await em.execute(INSERT_PLATFORM_DOMAIN, [tenant.id, platformHostname(tenant.slug, baseDomain), tenant.id]);
  },
};

/** The row order numbers are taken from (starts at 0: the first order is number 1). */
const orderCounter: PreparationStep = {
  name: 'order-counter',
  async run(em, tenant) {
    await em.execute(INSERT_ORDER_COUNTER, [tenant.id]);
  },
};

export const PREPARATION_STEPS: readonly PreparationStep[] = [primaryDomain, orderCounter];

/** Only a PENDING or PREPARING tenant is prepared: READY and FAILED are settled, DELETING and DELETED gone. */
const preparing = (tenant: Tenant) => tenant.status === TenantStatus.PENDING || tenant.status === TenantStatus.PREPARING;

/** A failed step, with the step's name for the tenant's `statusError`. */
export class PreparationStepError extends Error {
  constructor(
    readonly step: string,
    cause: unknown,
  ) {
    super(`step ${step}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'PreparationStepError';
  }
}

/**
 * Moves a tenant PENDING → PREPARING → READY, each transition committed together with its NOTIFY.
 * Runs inside the tenant's own scope (filter and RLS on), never the platform escape hatch. A tenant
 * already READY is left alone (a job retried after its work committed); so is a FAILED one: only
 * `retryTenantPreparation` takes a tenant out of FAILED, by setting it PENDING before enqueueing.
 * Throws if a step fails; the job queue decides between retry and FAILED.
 */
export async function prepareTenant(orm: Orm, tenantId: string, baseDomain: string, steps: readonly PreparationStep[] = PREPARATION_STEPS): Promise<'prepared' | 'skipped'> {
  const started = await inTenant(orm, tenantId, async (em) => {
    const tenant = await em.findOne(Tenant, tenantId);
    if (!tenant || !preparing(tenant)) return false;
    if (tenant.status === TenantStatus.PENDING) {
      tenant.status = TenantStatus.PREPARING;
      tenant.statusError = null;
      tenant.preparationStartedAt = new Date();
      tenant.preparationCompletedAt = null;
      await em.flush();
      await publishStatus(em, tenant);
    }
    // Already PREPARING: an attempt that crashed or failed part-way; its steps are redone idempotently.
    return true;
  });
  if (!started) return 'skipped';

  for (const step of steps) {
    try {
      const ran = await inTenant(orm, tenantId, async (em) => {
        // Share-locked for the step: a deletion (which takes the row for update) waits for it, and a step
        // that starts after one sees DELETING and writes nothing: an erased tenant's job cannot bring it back.
        const tenant = await em.findOneOrFail(Tenant, tenantId, { lockMode: LockMode.PESSIMISTIC_READ });
        if (!preparing(tenant)) return false;
        await step.run(em, tenant, baseDomain);
        return true;
      });
      if (!ran) return 'skipped';
    } catch (err) {
      throw new PreparationStepError(step.name, err);
    }
  }

  await inTenant(orm, tenantId, async (em) => {
    const tenant = await em.findOneOrFail(Tenant, tenantId, { lockMode: LockMode.PESSIMISTIC_WRITE });
    if (tenant.status !== TenantStatus.PREPARING) return; // settled meanwhile by an overlapping attempt
    tenant.status = TenantStatus.READY;
    tenant.statusError = null;
    tenant.preparationCompletedAt = new Date();
    await em.flush();
    await publishStatus(em, tenant);
  });
  return 'prepared';
}

/**
 * Marks the tenant FAILED with a readable reason, once preparation is given up. Locks the tenant row
 * and asks `hasLiveJob` in the same transaction, so a job enqueued meanwhile (recovery at start-up)
 * wins over the stale failure. Returns whether the tenant was marked.
 */
export async function failTenant(orm: Orm, tenantId: string, reason: string, hasLiveJob: (em: EntityManager) => Promise<boolean> = async () => false): Promise<boolean> {
  return inTenant(orm, tenantId, async (em) => {
    const tenant = await em.findOne(Tenant, tenantId, { lockMode: LockMode.PESSIMISTIC_WRITE });
    if (!tenant || tenant.status === TenantStatus.READY || tenant.status === TenantStatus.FAILED) return false;
    if (await hasLiveJob(em)) return false;
    tenant.status = TenantStatus.FAILED;
    tenant.statusError = reason.slice(0, 1000);
    await em.flush();
    await publishStatus(em, tenant);
    return true;
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
