import type { HeaderMap } from '@apollo/server';
import { context, propagation, type Span, SpanKind, SpanStatusCode, type TextMapGetter, trace } from '@opentelemetry/api';
import type { OperationDefinitionNode } from 'graphql';
import type { RequestIdentity } from '../context/requestContext.js';

/**
 * Span attributes of a GraphQL operation (docs/api.md, Tracing). Ids only: no names, emails, variables
 * or document text.
 */
export const SPAN_ATTRIBUTES = {
  operationName: 'graphql.operation.name',
  operationType: 'graphql.operation.type',
  tenantId: 'tenantry.tenant.id',
  userId: 'user.id',
  /** The first error's code, on an operation that answered with errors. */
  errorType: 'error.type',
  /** A mutation answered from its Idempotency-Key's stored answer. */
  replayed: 'tenantry.idempotency.replayed',
} as const;

/** Through the global API: a no-op until the SDK (src/tracing/sdk.ts) registers a tracer provider. */
const tracer = trace.getTracer('tenantry');

const HEADERS: TextMapGetter<HeaderMap> = {
  keys: (headers) => [...headers.keys()],
  get: (headers, key) => headers.get(key),
};

/**
 * Runs one operation inside its span: a server span, the child of the client's trace when `headers`
 * carry one (`traceparent`, read by the propagators the SDK set up: W3C trace context by default), a
 * trace of its own otherwise. Whatever runs inside, the unit of work included, runs in its context, so
 * the `pg` instrumentation's statement spans are its children. Named after the operation once it is
 * known (`describeOperation`).
 */
export function inOperationSpan<T>(identity: RequestIdentity, headers: HeaderMap | undefined, fn: (span: Span) => Promise<T>): Promise<T> {
  const parent = headers ? propagation.extract(context.active(), headers, HEADERS) : context.active();
  const attributes: Record<string, string> = {};
  if (identity.tenantId && !identity.tenantError) attributes[SPAN_ATTRIBUTES.tenantId] = identity.tenantId;
  if (identity.principal) attributes[SPAN_ATTRIBUTES.userId] = identity.principal.userId;
  return tracer.startActiveSpan('GraphQL Operation', { kind: SpanKind.SERVER, attributes }, parent, async (span) => {
    try {
      return await fn(span);
    } finally {
      span.end();
    }
  });
}

/** Names the span as OpenTelemetry's GraphQL conventions do: `mutation PlaceOrder`, or `mutation` when anonymous. */
export function describeOperation(span: Span, operation: OperationDefinitionNode): void {
  const name = operation.name?.value;
  span.updateName(name ? `${operation.operation} ${name}` : operation.operation);
  span.setAttribute(SPAN_ATTRIBUTES.operationType, operation.operation);
  if (name) span.setAttribute(SPAN_ATTRIBUTES.operationName, name);
}

/** An operation answered with errors: the span's status is ERROR, with the first error's code. */
export function recordFailure(span: Span, code: string): void {
  span.setAttribute(SPAN_ATTRIBUTES.errorType, code);
  span.setStatus({ code: SpanStatusCode.ERROR, message: code });
}
