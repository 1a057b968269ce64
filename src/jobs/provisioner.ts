import type { EntityManager } from '@mikro-orm/postgresql';

/** Starts a tenant's preparation. Implementations must enqueue inside `em`'s transaction. */
export interface Provisioner {
  /** False when the tenant already has a queued or active job (which will do the work). */
  enqueue(em: EntityManager, tenantId: string): Promise<boolean>;
}

/** How a preparation job's attempt ended: done, failed with a retry to come, failed for good (dead-lettered). */
export type JobOutcome = 'completed' | 'retried' | 'failed';
export const JOB_OUTCOMES: readonly JobOutcome[] = ['completed', 'retried', 'failed'];

/** One job queue's jobs by state. */
export interface QueueDepth {
  readonly queue: string;
  /** Waiting for a worker now. */
  readonly ready: number;
  /** Waiting for a retry's backoff to pass. */
  readonly deferred: number;
  /** Running in a worker. */
  readonly active: number;
}

/** A set of job queues, as /metrics reads them. */
export interface QueueDepths {
  /** Each queue's jobs, as the queue's monitor last counted them (one indexed read, no count over jobs). */
  depth(): Promise<readonly QueueDepth[]>;
}

/** What /metrics reads of the provisioning queue. */
export interface ProvisioningStats extends QueueDepths {
  /** Outcomes of the jobs this process ran since it started. */
  readonly outcomes: Readonly<Record<JobOutcome, number>>;
}
