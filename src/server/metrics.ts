import type pg from 'pg';
import type { Logger } from 'pino';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ConnectionGate } from '../context/connectionGate.js';
import { JOB_OUTCOMES, type ProvisioningStats, type QueueDepths } from '../jobs/provisioner.js';
import type { WsStats } from './graphqlWs.js';

/** Distinct operation names kept as labels; later ones are counted under `other`. */
export const MAX_OPERATION_LABELS = 100;

/** A scrape waits at most this long for the job queue's counts; past it they are left out of that scrape. */
export const QUEUE_READ_TIMEOUT_MS = 1_000;

/** The parts of a running server whose state a scrape reads. */
export interface RuntimeSources {
  /** The API's app-role pool (pg-pool): requests' units of work, identifying callers, the in-process worker. */
  readonly pool: Pick<pg.Pool, 'totalCount' | 'idleCount' | 'waitingCount'>;
  readonly gate: Pick<ConnectionGate, 'running' | 'waiting'>;
  readonly webSockets: () => WsStats;
  readonly provisioning: ProvisioningStats;
  /** The tenant lifecycle's queues (export, its dead letters and expiry, erase). */
  readonly lifecycle: QueueDepths;
}

/**
 * Prometheus metrics. Labels are bounded: operation name (client-chosen, so only the first
 * MAX_OPERATION_LABELS distinct names of the process get a series of their own, truncated; the rest
 * share `other`), operation type, outcome (`ok` or an error code from the contract) and transport;
 * the operations gauges (`watch`) take labels from fixed sets only. Never a tenant or user id.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly operationLabels = new Set<string>();
  private readonly operations = new Counter({
    name: 'tenantry_graphql_operations_total',
    help: 'GraphQL operations by name, type and outcome',
    labelNames: ['operation', 'type', 'outcome', 'transport'] as const,
    registers: [this.registry],
  });
  private readonly duration = new Histogram({
    name: 'tenantry_graphql_operation_duration_seconds',
    help: 'GraphQL operation latency',
    labelNames: ['operation', 'type', 'outcome', 'transport'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'tenantry_' });
  }

  /**
   * Gauges of the server's moving parts, read at each scrape (nothing is counted in between): the
   * database pool, the connection gate, WebSockets, the job queues and the provisioning jobs' outcomes.
   */
  watch(sources: RuntimeSources, log: Logger): void {
    const registers = [this.registry];
    const queueGauge = (name: string, help: string, queues: QueueDepths) =>
      new Gauge({
        name,
        help,
        labelNames: ['queue', 'state'] as const,
        registers,
        async collect() {
          this.reset();
          try {
            for (const { queue, ready, deferred, active } of await within(QUEUE_READ_TIMEOUT_MS, queues.depth())) {
              this.set({ queue, state: 'ready' }, ready);
              this.set({ queue, state: 'deferred' }, deferred);
              this.set({ queue, state: 'active' }, active);
            }
          } catch (err) {
            // A scrape answers without them rather than failing or hanging on a database that is down.
            log.warn({ err, metric: name }, 'job queue depth unavailable for /metrics');
          }
        },
      });
    new Gauge({
      name: 'tenantry_db_pool_connections',
      help: 'Connections of the API database pool, by state (in_use: checked out by a unit of work or a lookup)',
      labelNames: ['state'] as const,
      registers,
      collect() {
        const { totalCount, idleCount } = sources.pool;
        this.set({ state: 'in_use' }, totalCount - idleCount);
        this.set({ state: 'idle' }, idleCount);
      },
    });
    new Gauge({
      name: 'tenantry_db_pool_waiting_requests',
      help: 'Requests waiting for a connection of the API database pool',
      registers,
      collect() {
        this.set(sources.pool.waitingCount);
      },
    });
    new Gauge({
      name: 'tenantry_connection_gate_operations',
      help: 'Units of work admitted by the connection gate (running) and waiting for their tenant’s turn or a free slot (waiting)',
      labelNames: ['state'] as const,
      registers,
      collect() {
        this.set({ state: 'running' }, sources.gate.running);
        this.set({ state: 'waiting' }, sources.gate.waiting);
      },
    });
    new Gauge({
      name: 'tenantry_ws_sockets',
      help: 'Open WebSockets',
      registers,
      collect() {
        this.set(sources.webSockets().sockets);
      },
    });
    new Gauge({
      name: 'tenantry_ws_subscriptions',
      help: 'Live GraphQL subscriptions over all WebSockets',
      registers,
      collect() {
        this.set(sources.webSockets().subscriptions);
      },
    });
    queueGauge('tenantry_provisioning_queue_jobs', 'Jobs of the provisioning queues by state, as the queue monitor last counted them (shared by every process on the database)', sources.provisioning);
    queueGauge('tenantry_lifecycle_queue_jobs', 'Jobs of the tenant lifecycle queues (export, erase) by state, as the queue monitor last counted them (shared by every process on the database)', sources.lifecycle);
    new Counter({
      name: 'tenantry_provisioning_jobs_total',
      help: 'Provisioning jobs by outcome, as this process saw them: completed (an attempt succeeded), retried (an attempt failed, a retry follows), failed (dead-lettered after its last attempt: the tenant is FAILED)',
      labelNames: ['outcome'] as const,
      registers,
      collect() {
        // Mirrors the queue's own counts, which only grow.
        this.reset();
        for (const outcome of JOB_OUTCOMES) this.inc({ outcome }, sources.provisioning.outcomes[outcome]);
      },
    });
  }

  observe(labels: { operation?: string | null; type?: string; outcome: string; transport: 'http' | 'ws' }, seconds: number): void {
    const l = {
      operation: this.operationLabel(labels.operation),
      type: labels.type ?? 'unknown',
      outcome: labels.outcome,
      transport: labels.transport,
    };
    this.operations.inc(l);
    this.duration.observe(l, seconds);
  }

  private operationLabel(name: string | null | undefined): string {
    const label = (name ?? 'anonymous').replace(/[^A-Za-z0-9_]/g, '_').slice(0, 64) || 'anonymous';
    if (this.operationLabels.has(label)) return label;
    if (this.operationLabels.size >= MAX_OPERATION_LABELS) return 'other';
    this.operationLabels.add(label);
    return label;
  }
}

/** `promise`, or a rejection after `ms`. */
function within<T>(ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
