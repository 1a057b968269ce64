import type { EntityManager } from '@mikro-orm/postgresql';
import { CompiledQuery, type ControlledTransaction } from 'kysely';
import { PgBoss, type Job } from 'pg-boss';
import type { Logger } from 'pino';
import type { Orm } from '../db/orm.js';
import { Tenant, TenantStatus } from '../entities/Tenant.js';
import { JOB_SCHEMA } from '../migrations/Migration20261125001000JobQueue.js';
import { failTenant, PREPARATION_STEPS, prepareTenant, type PreparationStep } from './prepareTenant.js';
import type { Provisioner } from './provisioner.js';

export const PREPARE_QUEUE = 'tenant-prepare';

export interface ProvisioningOptions {
  readonly baseDomain: string;
  /** Attempts after the first; then the tenant is FAILED. */
  readonly retryLimit?: number;
  /** Seconds before the first retry; doubles each time. */
  readonly retryDelaySeconds?: number;
  /** A job whose worker stops heartbeating this long (crashed, killed) is retried. pg-boss minimum: 10. */
  readonly heartbeatSeconds?: number;
  readonly steps?: readonly PreparationStep[];
}

interface PrepareJob {
  tenantId: string;
}

/**
 * Tenant preparation as a durable pg-boss job. Enqueuing happens inside the caller's transaction
 * (the sign-up's), so a tenant row never exists without its job. The queue's `exclusive` policy keyed
 * by tenant keeps one job per tenant at a time; retries back off; the last failure marks FAILED.
 */
export class ProvisioningQueue implements Provisioner {
  private constructor(
    private readonly boss: PgBoss,
    private readonly orm: Orm,
    private readonly log: Logger,
    private readonly options: Required<ProvisioningOptions>,
  ) {}

  static async start(connectionString: string, orm: Orm, log: Logger, options: ProvisioningOptions): Promise<ProvisioningQueue> {
    const boss = new PgBoss({ connectionString, schema: JOB_SCHEMA, createSchema: false, schedule: false, useListenNotify: true, max: 4 });
    boss.on('error', (err) => log.error({ err }, 'job queue error'));
    await boss.start();
    const resolved = { retryLimit: 4, retryDelaySeconds: 1, heartbeatSeconds: 10, steps: PREPARATION_STEPS, ...options };
    if (!(await boss.getQueue(PREPARE_QUEUE))) {
      await boss
        .createQueue(PREPARE_QUEUE, {
          policy: 'exclusive',
          retryLimit: resolved.retryLimit,
          retryDelay: resolved.retryDelaySeconds,
          retryBackoff: true,
          retryDelayMax: 60,
          heartbeatSeconds: resolved.heartbeatSeconds,
          expireInSeconds: 300,
          notify: true,
        })
        .catch(async (err) => {
          if (!(await boss.getQueue(PREPARE_QUEUE))) throw err; // lost a creation race to another process: fine
        });
    }
    return new ProvisioningQueue(boss, orm, log, resolved);
  }

  /** Enqueues in `em`'s transaction: the job commits or rolls back with the caller's writes. */
  async enqueue(em: EntityManager, tenantId: string): Promise<void> {
    await this.boss.send(PREPARE_QUEUE, { tenantId } satisfies PrepareJob, { singletonKey: tenantId, db: inTransaction(em) });
  }

  /** Runs jobs in this process until `stop`. Call `recover` once after to pick up orphaned tenants. */
  async work(concurrency = 4): Promise<void> {
    await this.boss.work<PrepareJob>(
      PREPARE_QUEUE,
      { localConcurrency: concurrency, batchSize: 1, pollingIntervalSeconds: 1, includeMetadata: true },
      async ([job]) => this.run(job),
    );
  }

  /**
   * Re-enqueues tenants left PENDING or PREPARING (a crash between commit and work, a lost job):
   * the exclusive policy makes this a no-op for tenants whose job is still live.
   */
  async recover(): Promise<number> {
    const em = this.orm.em.fork({ clear: true }) as EntityManager;
    const stuck = await em.find(Tenant, { status: { $in: [TenantStatus.PENDING, TenantStatus.PREPARING] } }, { fields: ['id'] });
    for (const tenant of stuck) await em.transactional((tx) => this.enqueue(tx as EntityManager, tenant.id));
    return stuck.length;
  }

  async stop(): Promise<void> {
    await this.boss.stop({ graceful: true, timeout: 10_000 });
  }

  private async run(job: Job<PrepareJob> & { retryCount?: number }): Promise<void> {
    const { tenantId } = job.data;
    const log = this.log.child({ tenantId, jobId: job.id, attempt: (job.retryCount ?? 0) + 1 });
    try {
      await prepareTenant(this.orm, tenantId, this.options.baseDomain, this.options.steps);
      log.info('tenant prepared');
    } catch (err) {
      const lastAttempt = (job.retryCount ?? 0) >= this.options.retryLimit;
      log.warn({ err, lastAttempt }, 'tenant preparation failed');
      if (lastAttempt) await failTenant(this.orm, tenantId, readableReason(err));
      throw err;
    }
  }
}

/**
 * pg-boss's SQL (with `$n` placeholders) run on the connection of `em`'s open transaction. It goes
 * through Kysely directly because MikroORM's `execute` expects `?` placeholders.
 */
function inTransaction(em: EntityManager) {
  const trx = em.getTransactionContext<ControlledTransaction<unknown>>();
  if (!trx) throw new Error('Enqueueing a job needs an open transaction to join');
  return {
    executeSql: async (text: string, values: unknown[] = []) => ({ rows: (await trx.executeQuery(CompiledQuery.raw(text, values))).rows as unknown[] }),
  };
}

function readableReason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return `Preparation failed: ${message}`;
}
