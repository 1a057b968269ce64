import { LockMode } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Orm } from '../db/orm.js';
import { AuditEvent } from '../entities/AuditEvent.js';
import { isGone, Tenant, type TenantDeletion, TenantStatus } from '../entities/Tenant.js';
import { inTenant } from '../filters/inTenant.js';
import { publishStatus } from '../jobs/prepareTenant.js';
import { qi, txQuery } from '../migrate/sql.js';
import { planLifecycle, readCatalog, type TablePlan } from './catalog.js';
import { LifecycleError, unknownTenant } from './errors.js';
import { NO_PROGRESS, type TableProgress } from './progress.js';
import { eraseBatchSql } from './sql.js';

export const DEFAULT_ERASE_BATCH = 5000;

/**
 * How long the eraser waits, at most, for transactions that were already open when the tenant went
 * DELETING (a request of the tenant that identified it just before): their writes could otherwise land
 * behind the eraser. The API's own transactions end well within it (statement and idle timeouts).
 */
const IN_FLIGHT_WAIT_MS = 30_000;

/** Passes over every table before the eraser gives up on rows that keep coming back. */
const MAX_PASSES = 10;

export interface DeletionRequest {
  /** Who asked (a superadmin), or null (the command line). */
  readonly actorId: string | null;
  /** Must be the tenant's slug: the request names what it deletes twice. */
  readonly confirmSlug: string;
}

/**
 * Step one of an erasure, in one transaction in the tenant's own scope: the tenant goes DELETING (from
 * then on it does not exist for anyone but superadmins: src/context/resolveTenant.ts, its subscriptions
 * and sockets end on the status event published here), with its tombstone started and an audit event.
 * `then` runs in the same transaction (the API enqueues the erase job there). Idempotent: a tenant
 * already DELETING or DELETED is returned as it is. A tenant the migrator is still filling is refused.
 */
export async function requestDeletion(orm: Orm, tenantId: string, request: DeletionRequest, then?: (em: EntityManager) => Promise<void>): Promise<Tenant> {
  return inTenant(orm, tenantId, async (em) => {
    const tenant = await em.findOne(Tenant, tenantId, { lockMode: LockMode.PESSIMISTIC_WRITE });
    if (!tenant) throw unknownTenant(tenantId);
    const confirmed = (tenant.deletion?.slug ?? tenant.slug) === request.confirmSlug;
    if (!confirmed) throw new LifecycleError(`The confirmation "${request.confirmSlug}" is not the tenant's slug`, 2, 'BAD_USER_INPUT', 'confirmSlug');
    if (isGone(tenant.status)) return tenant;
    if (tenant.status === TenantStatus.PREPARING) {
      const { rows } = await txQuery<{ n: number }>(em, 'select count(*)::int as n from "migration_checkpoint" where tenant_id = $1 and not done', [tenantId]);
      if (rows[0].n > 0) throw new LifecycleError('The schema migrator is still filling this tenant: let it finish (or fail) first', 3);
    }
    const deletion: TenantDeletion = { slug: tenant.slug, requestedAt: new Date().toISOString(), requestedBy: request.actorId, finishedAt: null, rows: {} };
    tenant.status = TenantStatus.DELETING;
    tenant.statusError = null;
    tenant.deletion = deletion;
    em.create(AuditEvent, { action: 'tenant.delete', actorId: request.actorId, tenantId, target: tenant.slug });
    await em.flush();
    await publishStatus(em, tenant);
    await then?.(em);
    return tenant;
  });
}

export interface EraseOptions {
  readonly batchSize?: number;
  readonly progress?: TableProgress;
  /** Where export archives are kept: the tenant's are deleted with it. */
  readonly exportDir?: string;
  /** Upper bound of the wait for transactions open when the deletion was asked for. */
  readonly inFlightWaitMs?: number;
}

/**
 * Step two: deletes every row of a DELETING tenant in every table holding `tenant_id` (the database
 * catalog's list, src/lifecycle/catalog.ts), children first, in batches of `batchSize` rows by primary
 * key, each batch a short transaction in the tenant's own scope (RLS lets it touch that tenant's rows
 * and no other's) that also adds its count to the tombstone. Killed at any point, it is run again and
 * goes on: what was deleted is deleted, and counted once. Then its export archives are removed, and the
 * tenant is DELETED, in a transaction that finds every table empty, with an audit event. Any number of erasers may run at once.
 */
export async function eraseTenant(orm: Orm, tenantId: string, options: EraseOptions = {}): Promise<Tenant> {
  const batchSize = options.batchSize ?? DEFAULT_ERASE_BATCH;
  const progress = options.progress ?? NO_PROGRESS;
  const start = await inTenant(orm, tenantId, async (em) => {
    const tenant = await em.findOne(Tenant, tenantId);
    if (!tenant) throw unknownTenant(tenantId);
    return { status: tenant.status, requestedAt: tenant.deletion?.requestedAt, plan: planLifecycle(await readCatalog(em)) };
  });
  if (start.status === TenantStatus.DELETED) return finished(orm, tenantId);
  if (start.status !== TenantStatus.DELETING) throw new LifecycleError(`Tenant ${tenantId} is ${start.status}: ask for its deletion first`, 1);
  await waitForOlderTransactions(orm, tenantId, new Date(start.requestedAt!), options.inFlightWaitMs ?? IN_FLIGHT_WAIT_MS);

  const childrenFirst = [...start.plan.tables].reverse();
  for (let pass = 1; ; pass++) {
    const restart = await erasePass(orm, tenantId, childrenFirst, batchSize, progress);
    if (!restart && (await remainingRows(orm, tenantId, childrenFirst)) === 0) break;
    // A row written behind the eraser (a foreign key refused a parent's delete, or a table filled up again).
    if (pass >= MAX_PASSES) throw new Error(`rows of tenant ${tenantId} kept coming back after ${pass} passes`);
  }
  // The archives go before the tenant is DELETED: an erase run again on a DELETED tenant does nothing,
  // so archives left by a crash in between would stay for good (and a client seeing DELETED could still
  // find them on disk).
  if (options.exportDir) await rm(path.join(options.exportDir, tenantId), { recursive: true, force: true });
  await markDeleted(orm, tenantId, childrenFirst);
  return finished(orm, tenantId);
}

/** One pass over every table; true when a foreign key refused a delete (a child row came in behind us). */
async function erasePass(orm: Orm, tenantId: string, tables: readonly TablePlan[], batchSize: number, progress: TableProgress): Promise<boolean> {
  for (const plan of tables) {
    const total = await inTenant(orm, tenantId, async (em) => (await txQuery<{ n: number }>(em, `select count(*)::int as n from ${qi(plan.table)} where tenant_id = $1`, [tenantId])).rows[0].n);
    progress.table(plan.table, total);
    let deleted = 0;
    for (;;) {
      let n: number;
      try {
        n = await inTenant(orm, tenantId, async (em) => {
          // A batch and its count commit together; a crash loses both (nothing counted twice).
          await txQuery(em, 'set local synchronous_commit = off');
          const { affected } = await txQuery(em, eraseBatchSql(plan), [tenantId, batchSize]);
          if (affected > 0) {
            await txQuery(
              em,
              `update "tenant" set deletion = jsonb_set(deletion, array['rows', $2::text], to_jsonb(coalesce((deletion->'rows'->>$2)::bigint, 0) + $3::bigint)) where id = $1`,
              [tenantId, plan.table, affected],
            );
          }
          return affected;
        });
      } catch (err) {
        if ((err as { code?: string }).code === FOREIGN_KEY_VIOLATION) return true;
        throw err;
      }
      deleted += n;
      if (n > 0) progress.rows(plan.table, n);
      if (n < batchSize) break;
    }
    progress.tableDone(plan.table, deleted);
  }
  return false;
}

const FOREIGN_KEY_VIOLATION = '23503';

async function remainingRows(orm: Orm, tenantId: string, tables: readonly TablePlan[]): Promise<number> {
  return inTenant(orm, tenantId, async (em) => countRows(em, tenantId, tables));
}

async function countRows(em: EntityManager, tenantId: string, tables: readonly TablePlan[]): Promise<number> {
  const sql = tables.map((t) => `(select count(*) from ${qi(t.table)} where tenant_id = $1)`).join(' + ');
  const { rows } = await txQuery<{ n: string }>(em, `select (${sql})::text as n`, [tenantId]);
  return Number(rows[0].n);
}

/** DELETED, once every table is found empty in the same transaction that says so. */
async function markDeleted(orm: Orm, tenantId: string, tables: readonly TablePlan[]): Promise<void> {
  await inTenant(orm, tenantId, async (em) => {
    const tenant = await em.findOneOrFail(Tenant, tenantId, { lockMode: LockMode.PESSIMISTIC_WRITE });
    if (tenant.status !== TenantStatus.DELETING) return; // another eraser finished first
    const left = await countRows(em, tenantId, tables);
    if (left > 0) throw new Error(`${left} row(s) of tenant ${tenantId} appeared before it could be marked DELETED: run the erase again`);
    const deletion = { ...tenant.deletion!, finishedAt: new Date().toISOString() };
    tenant.status = TenantStatus.DELETED;
    tenant.deletion = deletion;
    const counts = Object.entries(deletion.rows).map(([table, n]) => `${table}=${n}`).join(' ');
    // The one row of the tenant that outlives it, besides the tombstone: the record of its erasure.
    em.create(AuditEvent, { action: 'tenant.deleted', actorId: deletion.requestedBy, tenantId, target: `${deletion.slug} ${counts}`.trim().slice(0, 2000) });
    await em.flush();
    await publishStatus(em, tenant);
  });
}

function finished(orm: Orm, tenantId: string): Promise<Tenant> {
  return inTenant(orm, tenantId, (em) => em.findOneOrFail(Tenant, tenantId));
}

/**
 * Waits (at most `maxMs`) until no transaction of the app role that started before the deletion was
 * asked for is still open: a request of the tenant admitted just before could otherwise write behind
 * the eraser. Other tenants' long transactions (an export) only make this wait longer, never wrong:
 * the passes and the final check catch what it cannot.
 */
async function waitForOlderTransactions(orm: Orm, tenantId: string, requestedAt: Date, maxMs: number): Promise<void> {
  const deadline = Date.now() + maxMs;
  for (;;) {
    const open = await inTenant(orm, tenantId, async (em) => {
      const { rows } = await txQuery<{ n: number }>(
        em,
        `select count(*)::int as n from pg_stat_activity
          where datname = current_database() and usename = current_user and pid <> pg_backend_pid() and xact_start < $1`,
        [requestedAt],
      );
      return rows[0].n;
    });
    if (open === 0 || Date.now() >= deadline) return;
    await sleep(100);
  }
}
