import type { EntityManager } from '@mikro-orm/postgresql';
import { LockMode } from '@mikro-orm/core';
import { CompiledQuery, type ControlledTransaction } from 'kysely';
import { PgBoss, type JobWithMetadata } from 'pg-boss';
import type { Logger } from 'pino';
import type { Orm } from '../db/orm.js';
import { Tenant, TenantStatus } from '../entities/Tenant.js';
import { inTenant } from '../filters/inTenant.js';
import { JOB_SCHEMA } from '../migrations/Migration20261125001000JobQueue.js';
import { failTenant, PREPARATION_STEPS, prepareTenant, type PreparationStep } from './prepareTenant.js';
import { TENANT_BEING_FILLED, UNFINISHED_TENANTS } from './sql.js';
import type { JobOutcome, Provisioner, ProvisioningStats, QueueDepth } from './provisioner.js';

export const PREPARE_QUEUE = 'tenant-prepare';
/** Where pg-boss moves a preparation job after its last attempt failed, however it failed. */
export const PREPARE_FAILED_QUEUE = 'tenant-prepare-failed';

export interface ProvisioningOptions {
  readonly baseDomain: string;
  /** Attempts after the first; then the tenant is FAILED. Applies when this process creates the queue. */
  readonly retryLimit?: number;
  /** Seconds before the first retry; roughly doubles each time (with jitter), at most 60. */
  readonly retryDelaySeconds?: number;
  /** A job whose worker stops heartbeating this long (crashed, killed) is retried. pg-boss minimum: 10. */
  readonly heartbeatSeconds?: number;
  /** How often pg-boss looks for jobs whose heartbeat or time ran out (its default, 60, is slow). */
  readonly superviseIntervalSeconds?: number;
  /** Jobs run at once by this process's worker. */
  readonly concurrency?: number;
  readonly steps?: readonly PreparationStep[];
}

interface PrepareJob {
  tenantId: string;
}

const LIVE_STATES = new Set(['created', 'retry', 'active']);

/**
 * New jobs wake workers at once through pg-boss's NOTIFY; a retry becoming due does not, so workers
 * also poll every second (pg-boss's default with NOTIFY on is 30 s, which would add up to 30 s to
 * every retry). One indexed query per second per worker process.
 */
const POLLING = { batchSize: 1, pollingIntervalSeconds: 1, notifyPollingIntervalSeconds: 1, includeMetadata: true } as const;

/**
 * Tenant preparation as a durable pg-boss job.
 *
 * - Enqueuing happens inside the caller's transaction (the sign-up's, the retry's), so a tenant row
 *   never exists without its job, nor a job without its row.
 * - The queue's `exclusive` policy keyed by tenant id allows one queued-or-active job per tenant.
 * - A failing attempt is retried with backoff; a worker that dies mid-job stops heartbeating and pg-boss
 *   retries the job elsewhere. The steps are idempotent, so a retry completes what the crash left.
 * - After the last attempt, however it ended (an error, a lost heartbeat, a timeout), pg-boss moves the
 *   job to a dead-letter queue whose handler marks the tenant FAILED with a readable reason. Doing it
 *   there, after pg-boss has settled the job, means a superadmin's retry can always enqueue anew.
 */
export class ProvisioningQueue implements Provisioner, ProvisioningStats {
  private readonly counts: Record<JobOutcome, number> = { completed: 0, retried: 0, failed: 0 };

  private constructor(
    /** The queue's pg-boss instance: the lifecycle's jobs (src/lifecycle/queue.ts) share it. */
    readonly boss: PgBoss,
    private readonly orm: Orm,
    private readonly log: Logger,
    private readonly baseDomain: string,
    private readonly steps: readonly PreparationStep[],
    private readonly concurrency: number,
  ) {}

  static async start(connectionString: string, orm: Orm, log: Logger, options: ProvisioningOptions): Promise<ProvisioningQueue> {
    const defined = <T extends object>(o: T) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
    const resolved = {
      retryLimit: 4,
      retryDelaySeconds: 1,
      heartbeatSeconds: 10,
      superviseIntervalSeconds: 10,
      concurrency: 4,
      ...defined(options),
    };
    const steps = options.steps ?? PREPARATION_STEPS;

    const boss = new PgBoss({
      connectionString,
      schema: JOB_SCHEMA,
      createSchema: false,
      schedule: false,
      useListenNotify: true,
      max: resolved.concurrency + 3,
      superviseIntervalSeconds: resolved.superviseIntervalSeconds,
      monitorIntervalSeconds: resolved.superviseIntervalSeconds,
    });
    boss.on('error', (err) => log.error({ err }, 'job queue error'));
    await boss.start();
    try {
      await ensureQueue(boss, PREPARE_FAILED_QUEUE, { policy: 'standard', retryLimit: 10, retryDelay: 1, retryBackoff: true, retryDelayMax: 60, notify: true });
      await ensureQueue(boss, PREPARE_QUEUE, {
        policy: 'exclusive',
        retryLimit: resolved.retryLimit,
        retryDelay: resolved.retryDelaySeconds,
        retryBackoff: true,
        retryDelayMax: 60,
        heartbeatSeconds: resolved.heartbeatSeconds,
        expireInSeconds: 300,
        deadLetter: PREPARE_FAILED_QUEUE,
        notify: true,
      });
    } catch (err) {
      await boss.stop({ graceful: false }).catch(() => undefined);
      throw err;
    }
    return new ProvisioningQueue(boss, orm, log, options.baseDomain, steps, resolved.concurrency);
  }

  /**
   * Enqueues in `em`'s transaction: the job commits or rolls back with the caller's writes. Returns
   * false when the tenant already has a queued or active job (which will do the work).
   */
  async enqueue(em: EntityManager, tenantId: string): Promise<boolean> {
    const id = await this.boss.send(PREPARE_QUEUE, { tenantId } satisfies PrepareJob, { singletonKey: tenantId, db: inTransaction(em) });
    return id !== null;
  }

  /**
   * Runs jobs in this process until `stop`: `concurrency` workers, each fetching one job at a time.
   * After a job a worker wakes itself (`notifyWorker`) so it fetches again at once while there is a
   * backlog, instead of sleeping its poll interval between jobs (which capped a worker at one job a
   * second). Call `recover` once after, to pick up orphaned tenants.
   */
  async work(): Promise<void> {
    for (let i = 0; i < this.concurrency; i++) {
      const worker: { id?: string } = {}; // known once `work` resolves; a job may start before that
      worker.id = await this.boss.work(PREPARE_QUEUE, { ...POLLING, localConcurrency: 1 }, async ([job]: JobWithMetadata<PrepareJob>[]) => {
        try {
          await this.run(job);
        } finally {
          if (worker.id) this.boss.notifyWorker(worker.id);
        }
      });
    }
    await this.boss.work(PREPARE_FAILED_QUEUE, { ...POLLING, localConcurrency: 1 }, async ([job]: JobWithMetadata<PrepareJob>[]) => this.giveUp(job));
  }

  /**
   * Re-enqueues tenants left PENDING or PREPARING without a live job (a job lost with a database
   * restored from backup, a tenant row written by hand, a dead-lettered job whose handler never ran).
   * Each check-and-enqueue holds the tenant's row lock; the exclusive policy makes it a no-op for a
   * tenant whose job is still queued or active (a crashed worker's job is retried by pg-boss once its
   * heartbeat lapses). Returns how many tenants got a new job.
   */
  async recover(): Promise<number> {
    const em = this.orm.em.fork({ clear: true }) as EntityManager;
    const candidates = await em.execute<{ id: string }[]>(UNFINISHED_TENANTS);
    let enqueued = 0;
    for (const { id } of candidates) {
      // In the tenant's own scope: its migration checkpoints are under RLS.
      const added = await inTenant(this.orm, id, async (tx) => {
        // A tenant with migration or import checkpoints is being filled by the schema migrator (src/migrate)
        // or import-tenant (src/lifecycle), which own its lifecycle: "preparing" it here would serve it
        // READY and half-copied.
        const [{ migrating }] = await tx.execute<{ migrating: boolean }[]>(TENANT_BEING_FILLED, [id, id]);
        if (migrating) return false;
        const tenant = await tx.findOne(Tenant, id, { lockMode: LockMode.PESSIMISTIC_WRITE });
        if (!tenant || (tenant.status !== TenantStatus.PENDING && tenant.status !== TenantStatus.PREPARING)) return false;
        return this.enqueue(tx, id);
      });
      if (added) {
        enqueued++;
        this.log.info({ tenantId: id }, 're-enqueued unfinished tenant preparation');
      }
    }
    return enqueued;
  }

  get outcomes(): Readonly<Record<JobOutcome, number>> {
    return this.counts;
  }

  /**
   * Read from pg-boss's queue table, where its monitor keeps each queue's counts (every
   * `superviseIntervalSeconds`): one indexed read of two rows, however many jobs there are.
   */
  depth(): Promise<readonly QueueDepth[]> {
    return queueDepths(this.boss, [PREPARE_QUEUE, PREPARE_FAILED_QUEUE]);
  }

  /** Stops fetching, waits (up to 10 s) for jobs in flight, closes the queue's connections. */
  async stop(): Promise<void> {
    await this.boss.stop({ graceful: true, timeout: 10_000 });
  }

  private async run(job: JobWithMetadata<PrepareJob>): Promise<void> {
    const { tenantId } = job.data;
    const log = this.log.child({ tenantId, jobId: job.id, attempt: job.retryCount + 1, attempts: job.retryLimit + 1 });
    try {
      const outcome = await prepareTenant(this.orm, tenantId, this.baseDomain, this.steps);
      this.counts.completed++;
      log.info({ outcome }, outcome === 'prepared' ? 'tenant prepared' : 'tenant preparation skipped (already settled)');
    } catch (err) {
      const lastAttempt = job.retryCount >= job.retryLimit;
      // The last attempt's failure is counted by the dead-letter handler, which also sees attempts
      // whose worker died (wherever it runs).
      if (!lastAttempt) this.counts.retried++;
      log.warn({ err, lastAttempt }, 'tenant preparation attempt failed');
      throw err; // pg-boss retries, or after the last attempt dead-letters the job
    }
  }

  /** The dead-letter handler: the job will not be retried, so the tenant is FAILED with a reason. */
  private async giveUp(job: JobWithMetadata<PrepareJob>): Promise<void> {
    const { tenantId } = job.data;
    const attempts = (job.sourceRetryCount ?? job.retryCount) + 1;
    const reason = `Preparation failed after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${failureMessage(job.sourceOutput ?? job.output)}`;
    const marked = await failTenant(this.orm, tenantId, reason, (em) => this.hasLiveJob(em, tenantId));
    this.counts.failed++;
    this.log.warn({ tenantId, jobId: job.sourceId, marked, reason }, marked ? 'tenant preparation FAILED' : 'dead-lettered preparation ignored (tenant settled or re-enqueued)');
  }

  private async hasLiveJob(em: EntityManager, tenantId: string): Promise<boolean> {
    const jobs = await this.boss.findJobs(PREPARE_QUEUE, { key: tenantId, db: inTransaction(em) });
    return jobs.some((j) => LIVE_STATES.has(j.state));
  }
}

/** The named queues' jobs by state, as pg-boss's monitor last counted them. */
export async function queueDepths(boss: PgBoss, names: readonly string[]): Promise<readonly QueueDepth[]> {
  const queues = await boss.getQueues([...names]);
  return queues.map((q) => ({ queue: q.name, ready: q.readyCount, deferred: q.deferredCount, active: q.activeCount }));
}

/**
 * Creates the queue with `options` unless it exists. An existing queue keeps its settings, except that
 * a missing dead-letter queue is added (queues created before FAILED moved to the dead-letter handler).
 */
export async function ensureQueue(boss: PgBoss, name: string, options: Parameters<PgBoss['createQueue']>[1]): Promise<void> {
  const existing = await boss.getQueue(name);
  if (existing) {
    if (options?.deadLetter && existing.deadLetter !== options.deadLetter) await boss.updateQueue(name, { deadLetter: options.deadLetter });
    return;
  }
  await boss.createQueue(name, options).catch(async (err) => {
    if (!(await boss.getQueue(name))) throw err; // lost a creation race to another process: fine
  });
}

/**
 * pg-boss's SQL (with `$n` placeholders) run on the connection of `em`'s open transaction. It goes
 * through Kysely directly because MikroORM's `execute` expects `?` placeholders.
 */
export function inTransaction(em: EntityManager) {
  const trx = em.getTransactionContext<ControlledTransaction<unknown>>();
  if (!trx) throw new Error('Enqueueing a job needs an open transaction to join');
  return {
    executeSql: async (text: string, values: unknown[] = []) => ({ rows: (await trx.executeQuery(CompiledQuery.raw(text, values))).rows as unknown[] }),
  };
}

/** A person-readable message from a job's output: the thrown error's, or pg-boss's own (timeouts). */
export function failureMessage(output: unknown): string {
  const o = output as { message?: unknown; value?: { message?: unknown } } | null | undefined;
  const message = typeof o?.message === 'string' ? o.message : typeof o?.value?.message === 'string' ? o.value.message : undefined;
  if (!message) return 'unknown error';
  if (message === 'job heartbeat timeout') return 'the worker stopped responding (crashed or was killed) on the last attempt';
  if (message === 'job timed out' || /timed? ?out/i.test(message)) return `the attempt took too long (${message})`;
  return message;
}
