import { LockMode } from '@mikro-orm/core';
import { randomUUID } from 'node:crypto';
import { Arg, Ctx, Directive, FieldResolver, ID, Mutation, Query, Resolver, Root, Subscription, type SubscribeResolverData } from 'type-graphql';
import type { RequestContext } from '../../context/requestContext.js';
import { AuditEvent } from '../../entities/AuditEvent.js';
import { isGone, Tenant } from '../../entities/Tenant.js';
import { AppError, conflict, notFound } from '../../errors.js';
import { inTenant } from '../../filters/inTenant.js';
import { asPlatform } from '../../filters/platform.js';
import type { TenantEvent, TenantResync } from '../../jobs/tenantEvents.js';
import { signDownloadUrl } from '../../lifecycle/downloads.js';
import { requestDeletion } from '../../lifecycle/erase.js';
import { LifecycleError } from '../../lifecycle/errors.js';
import { type ExportRecord, insertExport, isFinal, readExport } from '../../lifecycle/exports.js';
import { requireSuperadmin } from '../guards.js';
import { TenantDeletionType, TenantExportType, TenantType } from '../types.js';
import * as v from '../validation.js';
import { EventQueue } from './subscriptions.js';

/** A LifecycleError as the API's typed error. */
function apiError(err: unknown): never {
  if (err instanceof LifecycleError) throw new AppError(err.apiCode, err.message, err.field ? { field: err.field } : {});
  throw err;
}

/**
 * Export and erasure of tenants (docs/lifecycle.md), for superadmins. Each runs in the tenant's own
 * scope (`inTenant`: its export rows and audit events are under RLS), not through the escape hatch;
 * only reading an export by its id alone, tenant unknown, goes through `asPlatform` (audited).
 */
@Resolver(() => TenantExportType)
export class LifecycleResolver {
  @Directive('@superadmin')
  @Mutation(() => TenantType, {
    description:
      'Erases a tenant: DELETING at once (its users, tokens, sockets and hostnames stop working), then a job deletes every row of it and it ends DELETED, the tenant kept as a tombstone (`deletion`). `confirmSlug` must be its slug. Idempotent.',
  })
  deleteTenant(@Arg('id', () => ID) id: string, @Arg('confirmSlug') confirmSlug: string, @Ctx() ctx: RequestContext): Promise<Tenant> {
    const actor = requireSuperadmin(ctx);
    const tenantId = v.id(id);
    return requestDeletion(ctx.services.orm, tenantId, { actorId: actor.userId, confirmSlug }, (em) => ctx.services.lifecycle.enqueueErase(em, tenantId)).catch(apiError);
  }

  @Directive('@superadmin')
  @Mutation(() => TenantExportType, {
    description: "Exports a tenant's data as a job: follow it with tenantExportProgress, fetch it from downloadUrl once READY. Not for a DELETING or DELETED tenant (CONFLICT).",
  })
  exportTenant(@Arg('id', () => ID) id: string, @Ctx() ctx: RequestContext): Promise<ExportRecord> {
    const actor = requireSuperadmin(ctx);
    const tenantId = v.id(id);
    const exportId = randomUUID();
    return inTenant(ctx.services.orm, tenantId, async (em) => {
      // Share-locked: a deletion asked for at the same moment comes before or after, never across.
      const tenant = await em.findOne(Tenant, tenantId, { lockMode: LockMode.PESSIMISTIC_READ });
      if (!tenant) throw notFound('Tenant');
      if (isGone(tenant.status)) throw conflict(`The tenant is ${tenant.status}`);
      const record = await insertExport(em, tenantId, exportId, actor.userId, ctx.services.config.exports.retentionHours);
      em.create(AuditEvent, { action: 'tenant.export', actorId: actor.userId, tenantId, target: exportId });
      await em.flush();
      await ctx.services.lifecycle.enqueueExport(em, tenantId, exportId, record.expiresAt);
      return record;
    });
  }

  @Directive('@superadmin')
  @Query(() => TenantExportType, { nullable: true, description: 'An export by id (null when there is none).' })
  tenantExport(@Arg('id', () => ID) id: string, @Ctx() ctx: RequestContext): Promise<ExportRecord | null> {
    const actor = requireSuperadmin(ctx);
    const exportId = v.id(id);
    return asPlatform(ctx.services.orm, { action: 'tenant.export.read', actorId: actor.userId, target: exportId }, (em) => readExport(em, exportId));
  }

  @Directive('@superadmin')
  @Subscription(() => TenantExportType, {
    subscribe: ({ args, context }: SubscribeResolverData<unknown, { exportId: string }, RequestContext>) => exportProgress(context, args.exportId),
    description: 'The export as it is now, at once, then each time its status or progress changes (about twice a second while it runs); completes once it is READY, FAILED or EXPIRED.',
  })
  tenantExportProgress(@Root() record: ExportRecord, @Arg('exportId', () => ID) _exportId: string): ExportRecord {
    return record;
  }

  @FieldResolver(() => String, { nullable: true })
  downloadUrl(@Root() record: ExportRecord, @Ctx() ctx: RequestContext): string | null {
    if (record.status !== 'READY') return null;
    const ttl = new Date(Math.min(record.expiresAt.getTime(), Date.now() + ctx.services.config.exports.urlTtlSeconds * 1000));
    return signDownloadUrl(ctx.services.tokens.secret, record.id, record.tenantId, ttl);
  }
}

/** `Tenant.deletion`: the tombstone, table by table. */
@Resolver(() => TenantType)
export class TenantDeletionResolver {
  @FieldResolver(() => TenantDeletionType, { nullable: true })
  deletion(@Root() tenant: Tenant): TenantDeletionType | null {
    const d = tenant.deletion;
    if (!d) return null;
    return {
      slug: d.slug,
      requestedAt: new Date(d.requestedAt),
      finishedAt: d.finishedAt ? new Date(d.finishedAt) : null,
      rows: Object.entries(d.rows).map(([table, rows]) => ({ table, rows: Number(rows) })),
    };
  }
}

/**
 * The export's state now, then after every change: the stream listens on the tenant's events first,
 * then reads, and re-reads on each event of this export (and after a lost listening connection), sending
 * what changed. Status and row count only move forward, so a late re-read never sends an older state.
 */
async function exportProgress(ctx: RequestContext, id: string): Promise<AsyncIterable<ExportRecord>> {
  const actor = requireSuperadmin(ctx);
  const exportId = v.id(id, 'exportId');
  const first = await asPlatform(ctx.services.orm, { action: 'tenant.export.watch', actorId: actor.userId, target: exportId }, (em) => readExport(em, exportId));
  if (!first) throw notFound('Export');
  const queue = new EventQueue<ExportRecord>();
  let last = '';
  const send = (record: ExportRecord | null) => {
    if (!record) return queue.end(); // erased with its tenant
    const key = `${record.status}:${record.rows}:${record.totalRows}`;
    if (key !== last) {
      last = key;
      queue.push(record);
    }
    if (isFinal(record.status)) queue.end();
  };
  let reading = Promise.resolve();
  const reread = () => {
    reading = reading.then(() => inTenant(ctx.services.orm, first.tenantId, (em) => readExport(em, exportId)).then(send, (err: unknown) => queue.fail(err)));
  };
  const unsubscribe = ctx.services.events.subscribe((event: TenantEvent | TenantResync) => {
    if (event.type === 'resync' || (event.type === 'export' && event.exportId === exportId)) reread();
  }, first.tenantId);
  send(first);
  reread(); // what changed between the first read and the subscription
  return queue.iterate(unsubscribe);
}
