import { type EntityName, type FilterQuery, LockMode } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { Arg, Args, ArgsType, Ctx, Directive, Field, ID, Int, Mutation, Query, Resolver } from 'type-graphql';
import type { RequestContext } from '../../context/requestContext.js';
import { AuditEvent } from '../../entities/AuditEvent.js';
import { Tenant, TenantStatus } from '../../entities/Tenant.js';
import { AppError, notFound } from '../../errors.js';
import { publishStatus } from '../../jobs/prepareTenant.js';
import { inTenant } from '../../filters/inTenant.js';
import { asPlatform } from '../../filters/platform.js';
import { TenantEvents } from '../../jobs/tenantEvents.js';
import { requireSuperadmin } from '../guards.js';
import { decodeCursor, type Page, toPage } from '../pagination.js';
import { AuditEventConnection, TenantConnection, TenantReportType, TenantType } from '../types.js';
import { TENANT_REPORT } from '../sql.js';
import * as v from '../validation.js';

@ArgsType()
class TenantsArgs {
  @Field(() => TenantStatus, { nullable: true }) status?: TenantStatus | null;
  @Field(() => Int, { nullable: true, defaultValue: 50 }) first?: number | null;
  @Field(() => String, { nullable: true }) after?: string | null;
}

@ArgsType()
class AuditEventsArgs {
  @Field(() => ID, { nullable: true }) tenantId?: string | null;
  @Field(() => Int, { nullable: true, defaultValue: 50 }) first?: number | null;
  @Field(() => String, { nullable: true }) after?: string | null;
}

export interface TenantReportRow {
  tenant: Pick<Tenant, 'id' | 'name' | 'slug' | 'isActive' | 'status' | 'statusError' | 'preparationStartedAt' | 'preparationCompletedAt' | 'createdAt'>;
  customers: number;
  orders: number;
  revenueCents: number;
  lastOrderAt: Date | null;
}

/** A report row's tenant as plain values: thousands of read-only rows need no entity hydration. */
function tenantFromRow(row: Record<string, unknown>): TenantReportRow['tenant'] {
  const date = (v: unknown) => (v ? new Date(v as string) : null);
  return {
    id: row.id as string,
    name: row.name as string,
    slug: row.slug as string,
    isActive: row.is_active as boolean,
    status: row.status as TenantStatus,
    statusError: (row.status_error as string | null) ?? null,
    preparationStartedAt: date(row.preparation_started_at),
    preparationCompletedAt: date(row.preparation_completed_at),
    createdAt: new Date(row.created_at as string),
  };
}

/**
 * A newest-first page of a shared table, keyset on (timestamp, id), with its total: `tenants` and
 * `auditEvents`. Runs inside the caller's escape-hatch transaction.
 */
async function newestFirstPage<T extends { id: string }>(
  em: EntityManager,
  entity: EntityName<T>,
  at: keyof T & string,
  where: FilterQuery<T>,
  args: { first?: number | null; after?: string | null },
): Promise<Page<T>> {
  const first = v.first(args.first, 50);
  const after = decodeCursor(args.after, ['timestamp', 'uuid']);
  const page = after
    ? ({ $or: [{ [at]: { $lt: new Date(after[0]) } }, { [at]: new Date(after[0]), id: { $lt: after[1] } }] } as FilterQuery<T>)
    : ({} as FilterQuery<T>);
  const rows = (await em.find(entity, { $and: [where, page] } as FilterQuery<T>, {
    orderBy: { [at]: 'desc', id: 'desc' } as never,
    limit: first + 1,
  })) as T[];
  const total = await em.count(entity, where);
  return toPage(rows, { first, after: args.after }, (row) => [(row[at] as Date).toISOString(), row.id], async () => total);
}

/**
 * Cross-tenant operations. Every one runs through `asPlatform`, the single escape hatch, which
 * audits it; the @superadmin directive has already refused everyone else.
 */
@Resolver()
export class PlatformResolver {
  @Directive('@superadmin')
  @Query(() => TenantConnection, { description: 'Newest first.' })
  async tenants(@Args(() => TenantsArgs) args: TenantsArgs, @Ctx() ctx: RequestContext): Promise<Page<Tenant>> {
    const actor = requireSuperadmin(ctx);
    const where: FilterQuery<Tenant> = args.status ? { status: args.status } : {};
    return asPlatform(ctx.services.orm, { action: 'tenant.list', actorId: actor.userId }, (em) => newestFirstPage(em, Tenant, 'createdAt', where, args));
  }

  @Directive('@superadmin')
  @Query(() => TenantType, { nullable: true })
  tenant(@Arg('id', () => ID) id: string, @Ctx() ctx: RequestContext): Promise<Tenant> {
    const actor = requireSuperadmin(ctx);
    const tenantId = v.id(id);
    return asPlatform(ctx.services.orm, { action: 'tenant.read', actorId: actor.userId, tenantId }, async (em) => {
      const tenant = await em.findOne(Tenant, tenantId);
      if (!tenant) throw notFound('Tenant');
      return tenant;
    });
  }

  @Directive('@superadmin')
  @Query(() => [TenantReportType], { description: 'Every tenant; orders and revenue over [from, to), CANCELLED excluded.' })
  tenantReport(
    @Arg('from', () => Date, { nullable: true }) from: Date | null,
    @Arg('to', () => Date, { nullable: true }) to: Date | null,
    @Ctx() ctx: RequestContext,
  ): Promise<TenantReportRow[]> {
    const actor = requireSuperadmin(ctx);
    return asPlatform(ctx.services.orm, { action: 'tenant.report', actorId: actor.userId }, async (em) => {
      const rows = await em.execute<Record<string, unknown>[]>(TENANT_REPORT, [from ?? null, from ?? null, to ?? null, to ?? null]);
      return rows.map((row) => ({
        tenant: tenantFromRow(row),
        customers: Number(row.report_customers),
        orders: Number(row.report_orders),
        revenueCents: Number(row.report_revenue),
        lastOrderAt: row.report_last_order_at ? new Date(row.report_last_order_at as string) : null,
      }));
    });
  }

  @Directive('@superadmin')
  @Query(() => AuditEventConnection, { description: 'Newest first.' })
  async auditEvents(@Args(() => AuditEventsArgs) args: AuditEventsArgs, @Ctx() ctx: RequestContext): Promise<Page<AuditEvent>> {
    const actor = requireSuperadmin(ctx);
    const tenantId = args.tenantId ? v.id(args.tenantId, 'tenantId') : undefined;
    const where: FilterQuery<AuditEvent> = tenantId ? { tenantId } : {};
    return asPlatform(ctx.services.orm, { action: 'audit.read', actorId: actor.userId, tenantId }, (em) => newestFirstPage(em, AuditEvent, 'at', where, args));
  }

  @Directive('@superadmin')
  @Mutation(() => TenantType, { description: "While deactivated, the tenant's users get TENANT_INACTIVE on everything and their subscriptions end." })
  setTenantActive(@Arg('tenantId', () => ID) id: string, @Arg('isActive') isActive: boolean, @Ctx() ctx: RequestContext): Promise<Tenant> {
    const actor = requireSuperadmin(ctx);
    const tenantId = v.id(id, 'tenantId');
    const action = isActive ? 'tenant.activate' : 'tenant.deactivate';
    return asPlatform(ctx.services.orm, { action, actorId: actor.userId, tenantId }, async (em) => {
      const tenant = await em.findOne(Tenant, tenantId);
      if (!tenant) throw notFound('Tenant');
      tenant.isActive = isActive;
      await em.flush();
      await TenantEvents.publish(em, { type: 'active', tenantId, isActive });
      return tenant;
    });
  }

  @Directive('@superadmin')
  @Mutation(() => TenantType, { description: 'Only from FAILED (else CONFLICT): back to PENDING and re-enqueued.' })
  retryTenantPreparation(@Arg('tenantId', () => ID) id: string, @Ctx() ctx: RequestContext): Promise<Tenant> {
    const actor = requireSuperadmin(ctx);
    const tenantId = v.id(id, 'tenantId');
    // The tenant row and the job queue are shared; the audit event is the tenant's row, written in that
    // tenant's own scope (whichever tenant the request itself is in): no escape hatch needed.
    return inTenant(ctx.services.orm, tenantId, async (em) => {
      const tenant = await em.findOne(Tenant, tenantId, { lockMode: LockMode.PESSIMISTIC_WRITE });
      if (!tenant) throw notFound('Tenant');
      if (tenant.status !== TenantStatus.FAILED) throw new AppError('CONFLICT', `Only a FAILED tenant can be retried; this one is ${tenant.status}`);
      tenant.status = TenantStatus.PENDING;
      tenant.statusError = null;
      em.create(AuditEvent, { action: 'tenant.retryPreparation', actorId: actor.userId, tenantId, target: tenant.slug });
      await em.flush();
      await publishStatus(em, tenant);
      await ctx.services.provisioner.enqueue(em, tenantId);
      return tenant;
    });
  }
}
