import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

/** Distinct operation names kept as labels; later ones are counted under `other`. */
export const MAX_OPERATION_LABELS = 100;

/**
 * Prometheus metrics. Labels are bounded: operation name (client-chosen, so only the first
 * MAX_OPERATION_LABELS distinct names of the process get a series of their own, truncated; the rest
 * share `other`), operation type, outcome (`ok` or an error code from the contract) and transport.
 * Never a tenant or user id.
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
