import type { Span } from '@opentelemetry/api';
import { type InstrumentationBase, registerInstrumentations } from '@opentelemetry/instrumentation';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import { NodeSDK, type NodeSDKConfiguration } from '@opentelemetry/sdk-node';

/** The running SDK. */
export interface Tracing {
  /** What patches `pg` (through Node's `require`, as `pg` loads its own files). */
  readonly instrumentations: readonly InstrumentationBase[];
  /** Exports the spans still buffered, then stops. */
  shutdown(): Promise<void>;
}

export interface TracingOptions {
  /** Where spans go; by default the exporters the OTEL_* variables name (OTLP unless OTEL_TRACES_EXPORTER says otherwise). */
  readonly spanProcessors?: NodeSDKConfiguration['spanProcessors'];
}

/**
 * OpenTelemetry's Node SDK for traces, and the maintained `pg` instrumentation. Loaded only when the
 * configuration turns tracing on (`Config.tracing`), and started before anything loads `pg`: the
 * instrumentation patches `pg`'s client and pool classes when Node's `require` loads them (MikroORM
 * imports `pg`'s ESM wrapper, which `require`s its CommonJS files), so an entry point starts this first
 * and imports the server afterwards (src/server/main.ts). No ESM loader hook is needed for that.
 *
 * The SDK reads the other OTEL_* variables itself: exporter endpoint, protocol and headers, service name
 * and resource attributes, sampler, propagators (W3C trace context and baggage by default), batching.
 * Traces only: metrics stay Prometheus (/metrics), and nothing here produces OpenTelemetry logs.
 */
export function startTracing(options: TracingOptions = {}): Tracing {
  const sdk = new NodeSDK({
    // `service.name` is tenantry unless OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES say otherwise
    // (the SDK's environment detector merges over this).
    resource: defaultResource().merge(resourceFromAttributes({ 'service.name': 'tenantry' })),
    spanProcessors: options.spanProcessors,
    metricReaders: [],
    logRecordProcessors: [],
  });
  sdk.start();
  const instrumentations = [
    new PgInstrumentation({
      // Statements outside a GraphQL operation (the job queue's polling, identifying callers, the rate
      // limiter's own pool) would each start a trace of their own: only children of an operation count.
      requireParentSpan: true,
      requestHook: (span, { query }) => recordStatement(span, query.text),
    }),
  ];
  const unload = registerInstrumentations({ instrumentations });
  return {
    instrumentations,
    shutdown: async () => {
      unload();
      await sdk.shutdown();
    },
  };
}

/**
 * MikroORM writes values into its SQL text (string literals), so the instrumentation's `db.query.text`
 * would carry emails, names and password hashes. The statement is recorded with every string literal
 * replaced by `'?'`: its shape, tables and columns stay, the values go.
 */
function recordStatement(span: Span, text: string | undefined): void {
  if (text !== undefined) span.setAttribute('db.query.text', withoutStringLiterals(text));
}

/** `'…'` (quotes doubled inside) and `E'…'` (backslash escapes too), as PostgreSQL and MikroORM write them. */
const STRING_LITERAL = /(?<![\w$])[Ee]'(?:[^'\\]|\\[\s\S]|'')*'|'(?:[^']|'')*'/g;

export function withoutStringLiterals(sql: string): string {
  return sql.replace(STRING_LITERAL, "'?'");
}
