import type { EntityManager } from '@mikro-orm/postgresql';
import { rm } from 'node:fs/promises';
import type { JobWithMetadata, PgBoss } from 'pg-boss';
import type { Logger } from 'pino';
import type { ExportConfig } from '../config.js';
import type { Orm } from '../db/orm.js';
import { TenantStatus } from '../entities/Tenant.js';
import { inTenant } from '../filters/inTenant.js';
import type { QueueDepth, QueueDepths } from '../jobs/provisioner.js';
import { ensureQueue, failureMessage, inTransaction, queueDepths } from '../jobs/provisioningQueue.js';
import { txQuery } from '../migrate/sql.js';
import { eraseTenant } from './erase.js';
import { LifecycleError } from './errors.js';
import { exportTenantToFile } from './export.js';
import { exportFile, updateExport } from './exports.js';

export const EXPORT_QUEUE = 'tenant-export';
export const EXPORT_FAILED_QUEUE = 'tenant-export-failed';
export const EXPORT_EXPIRE_QUEUE = 'tenant-export-expire';
export const ERASE_QUEUE = 'tenant-erase';

/** How often a running export writes its progress (and so how often its subscribers hear of it). */
const PROGRESS_EVERY_MS = 500;

interface ExportJob {
  tenantId: string;
  exportId: string;
}

interface EraseJob {
  tenantId: string;
}

/** What the API asks of the lifecycle's jobs; each call enqueues in `em`'s transaction. */
export interface LifecycleJobs extends QueueDepths {
  /** The export job, and the job that deletes its archive at `expiresAt` whatever becomes of it. */
  enqueueExport(em: EntityManager, tenantId: string, exportId: string, expiresAt: Date): Promise<void>;
  /** The erase job of a tenant just marked DELETING (one per tenant at a time). */
  enqueueErase(em: EntityManager, tenantId: string): Promise<void>;
}

/** The lifecycle's queues, in the order /metrics lists them. */
export const LIFECYCLE_QUEUES = [EXPORT_QUEUE, EXPORT_FAILED_QUEUE, EXPORT_EXPIRE_QUEUE, ERASE_QUEUE] as const;

const POLLING = { batchSize: 1, pollingIntervalSeconds: 1, notifyPollingIntervalSeconds: 1, includeMetadata: true, localConcurrency: 1 } as const;

/**
 * The lifecycle's durable jobs, on the provisioning queue's pg-boss instance (same schema, same
 * workers' processes, same crash recovery: a worker killed mid-job stops heartbeating and the job is
 * retried elsewhere within seconds).
 *
 * - `tenant-export`: writes the archive into EXPORT_DIR, reporting progress; after its last attempt
 *   `tenant-export-failed` marks the export FAILED, however the attempt ended.
 * - `tenant-export-expire`: at the export's `expiresAt`, deletes its archive and marks it EXPIRED.
 * - `tenant-erase`: erases a DELETING tenant (src/lifecycle/erase.ts); a retry goes on where the last
 *   attempt stopped. One per tenant at a time (`exclusive`, keyed by tenant).
 */
export class LifecycleQueue implements LifecycleJobs {
  private constructor(
    private readonly boss: PgBoss,
    private readonly orm: Orm,
    private readonly log: Logger,
    private readonly baseDomain: string,
    private readonly exports: ExportConfig,
  ) {}

  static async start(boss: PgBoss, orm: Orm, log: Logger, options: { baseDomain: string; exports: ExportConfig; retryDelaySeconds?: number }): Promise<LifecycleQueue> {
    const retry = { retryDelay: options.retryDelaySeconds ?? 5, retryBackoff: true, retryDelayMax: 120, heartbeatSeconds: 10, notify: true };
    await ensureQueue(boss, EXPORT_FAILED_QUEUE, { policy: 'standard', retryLimit: 10, ...retry });
    await ensureQueue(boss, EXPORT_QUEUE, { policy: 'standard', retryLimit: 2, ...retry, expireInSeconds: 4 * 3600, deadLetter: EXPORT_FAILED_QUEUE });
    await ensureQueue(boss, EXPORT_EXPIRE_QUEUE, { policy: 'standard', retryLimit: 10, ...retry });
    await ensureQueue(boss, ERASE_QUEUE, { policy: 'exclusive', retryLimit: 20, ...retry, expireInSeconds: 12 * 3600 });
    return new LifecycleQueue(boss, orm, log, options.baseDomain, options.exports);
  }

  async enqueueExport(em: EntityManager, tenantId: string, exportId: string, expiresAt: Date): Promise<void> {
    const data: ExportJob = { tenantId, exportId };
    await this.boss.send(EXPORT_QUEUE, data, { db: inTransaction(em) });
    await this.boss.send(EXPORT_EXPIRE_QUEUE, data, { db: inTransaction(em), startAfter: expiresAt });
  }

  async enqueueErase(em: EntityManager, tenantId: string): Promise<void> {
    await this.boss.send(ERASE_QUEUE, { tenantId } satisfies EraseJob, { db: inTransaction(em), singletonKey: tenantId });
  }

  depth(): Promise<readonly QueueDepth[]> {
    return queueDepths(this.boss, LIFECYCLE_QUEUES);
  }

  /** Runs the lifecycle's jobs in this process until pg-boss stops. */
  async work(): Promise<void> {
    const each = <T extends object>(name: string, fn: (job: JobWithMetadata<T>) => Promise<void>) =>
      this.boss.work(name, POLLING, async ([job]: JobWithMetadata<T>[]) => fn(job));
    await each<ExportJob>(EXPORT_QUEUE, (job) => this.runExport(job.data));
    await each<ExportJob>(EXPORT_FAILED_QUEUE, (job) => this.failExport(job));
    await each<ExportJob>(EXPORT_EXPIRE_QUEUE, (job) => this.expireExport(job.data));
    await each<EraseJob>(ERASE_QUEUE, (job) => this.runErase(job.data));
  }

  /**
   * Tenants left DELETING without a live erase job (a `delete-tenant` killed and never run again, a job
   * lost with a restored backup) get one. Returns how many.
   */
  async recover(): Promise<number> {
    const em = this.orm.em.fork({ clear: true }) as EntityManager;
    const deleting = await em.transactional(async (tx) => (await txQuery<{ id: string }>(tx, `select id from "tenant" where status = $1`, [TenantStatus.DELETING])).rows);
    let enqueued = 0;
    for (const { id } of deleting) {
      const sent = await inTenant(this.orm, id, async (tx) => this.boss.send(ERASE_QUEUE, { tenantId: id } satisfies EraseJob, { db: inTransaction(tx), singletonKey: id }));
      if (sent) {
        enqueued++;
        this.log.info({ tenantId: id }, 're-enqueued the erase of a DELETING tenant');
      }
    }
    return enqueued;
  }

  private async runExport({ tenantId, exportId }: ExportJob): Promise<void> {
    const log = this.log.child({ tenantId, exportId });
    const started = await inTenant(this.orm, tenantId, (em) => updateExport(em, tenantId, exportId, ['QUEUED', 'RUNNING'], { status: 'RUNNING', started_at: new Date(), rows: 0 }));
    if (!started) return void log.info('export job skipped: the export is settled or gone');
    const file = exportFile(this.exports.dir, tenantId, exportId);
    let rows = 0;
    let total: number | null = null;
    let reported = Date.now();
    const report = (force = false) => {
      if (!force && Date.now() - reported < PROGRESS_EVERY_MS) return Promise.resolve();
      reported = Date.now();
      return inTenant(this.orm, tenantId, (em) => updateExport(em, tenantId, exportId, ['RUNNING'], { rows, total_rows: total })).then(() => undefined);
    };
    let pending: Promise<void> = Promise.resolve();
    try {
      const result = await exportTenantToFile(this.orm, tenantId, file, {
        exportId,
        baseDomain: this.baseDomain,
        onManifest: (m) => {
          total = m.tables.reduce((n, t) => n + t.rows, 0);
          return report(true);
        },
        progress: {
          table() {},
          tableDone() {},
          rows: (_table, n) => {
            rows += n;
            pending = pending.then(() => report());
          },
        },
      });
      await pending;
      const done = await inTenant(this.orm, tenantId, (em) =>
        updateExport(em, tenantId, exportId, ['RUNNING'], { status: 'READY', rows, total_rows: total, bytes: result.bytes, sha256: result.sha256, finished_at: new Date() }),
      );
      // Expired or erased while it ran: the archive it wrote belongs to nobody.
      if (!done) await rm(file, { force: true });
      log.info({ rows, bytes: result.bytes }, 'tenant exported');
    } catch (err) {
      if (!(err instanceof LifecycleError)) throw err; // pg-boss retries, then dead-letters
      await inTenant(this.orm, tenantId, (em) => updateExport(em, tenantId, exportId, ['RUNNING'], { status: 'FAILED', error: err.message, finished_at: new Date() })).catch(() => undefined);
      log.warn({ err }, 'tenant export refused');
    }
  }

  private async failExport(job: JobWithMetadata<ExportJob>): Promise<void> {
    const { tenantId, exportId } = job.data;
    const reason = `Export failed: ${failureMessage(job.sourceOutput ?? job.output)}`;
    await inTenant(this.orm, tenantId, (em) => updateExport(em, tenantId, exportId, ['QUEUED', 'RUNNING'], { status: 'FAILED', error: reason, finished_at: new Date() }));
    await rm(exportFile(this.exports.dir, tenantId, exportId), { force: true });
    await rm(`${exportFile(this.exports.dir, tenantId, exportId)}.partial`, { force: true });
  }

  /** Personal data is not kept: at its expiry the archive goes, whatever became of the export. */
  private async expireExport({ tenantId, exportId }: ExportJob): Promise<void> {
    await inTenant(this.orm, tenantId, (em) => updateExport(em, tenantId, exportId, ['QUEUED', 'RUNNING', 'READY', 'FAILED'], { status: 'EXPIRED' }));
    await rm(exportFile(this.exports.dir, tenantId, exportId), { force: true });
    await rm(`${exportFile(this.exports.dir, tenantId, exportId)}.partial`, { force: true });
  }

  private async runErase({ tenantId }: EraseJob): Promise<void> {
    const tenant = await eraseTenant(this.orm, tenantId, { exportDir: this.exports.dir });
    this.log.info({ tenantId, rows: tenant.deletion?.rows }, 'tenant erased');
  }
}
