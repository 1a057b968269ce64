import { ApolloServer, type ApolloServerPlugin, type GraphQLResponse, HeaderMap, type HTTPGraphQLRequest, type HTTPGraphQLResponse } from '@apollo/server';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import type { Span } from '@opentelemetry/api';
import {
  execute,
  type ExecutionArgs,
  type ExecutionResult,
  type FormattedExecutionResult,
  getVariableValues,
  GraphQLError,
  type GraphQLSchema,
  type OperationDefinitionNode,
  subscribe,
} from 'graphql';
import { ConnectionGate } from '../context/connectionGate.js';
import { currentIdentity, plainContext, type RequestContext, type RequestIdentity, requestLogger, runUnitOfWork, type Services } from '../context/requestContext.js';
import { Role } from '../entities/User.js';
import { AppError, badInput, hasAnyData, statusForCode } from '../errors.js';
import { type IdempotentRequest, idempotentRequest, parseIdempotencyKey } from '../idempotency/keys.js';
import { runOnce } from '../idempotency/store.js';
import { admitCaller, auditSuperadminAccess } from '../schema/guards.js';
import { analyzeOperation, enforceLimits, type OperationShape, SESSION_FIELDS } from '../schema/limits.js';
import { formatError } from './errors.js';
import type { Metrics } from './metrics.js';
import { describeOperation, inOperationSpan, recordFailure, SPAN_ATTRIBUTES } from './operationSpan.js';
import type { RateLimits } from './rateLimit.js';

/**
 * Tokens a document may hold. graphql-js stops parsing at this count, which bounds everything after it,
 * graphql-js's own validation included (OverlappingFieldsCanBeMerged is quadratic in the repeats of one
 * field: 800 repeats cost ~100 ms of CPU, the 330 that fit in 2,000 tokens ~15 ms). An introspection
 * query is under 200 tokens; the contract's page of 100 orders with customer and lines, about 30.
 */
export const MAX_TOKENS = 2_000;

export type Transport = 'http' | 'ws';

/** Where a mutation's idempotency key comes: a header over HTTP, an extension of the operation over WebSocket. */
export const IDEMPOTENCY_HEADER = 'idempotency-key';
export const IDEMPOTENCY_EXTENSION = 'idempotencyKey';
/** Marks a replayed answer: a response header over HTTP, `extensions.idempotentReplayed` over WebSocket. */
export const REPLAYED_HEADER = 'idempotent-replayed';
export const REPLAYED_EXTENSION = 'idempotentReplayed';

/** What a transport hands the pipeline for one operation (Apollo copies it shallowly per operation). */
export interface OperationInput {
  readonly identity: RequestIdentity;
  readonly transport: Transport;
  /** The operation's span, when tracing is on. */
  readonly span?: Span;
  /** The idempotency key as the client sent it (validated for mutations only). */
  readonly idempotencyKey?: unknown;
  /** Set by the pipeline for a subscription: its event stream, which the WebSocket transport delivers. */
  readonly outcome: { stream?: AsyncGenerator<FormattedExecutionResult> };
}

/** A GraphQL request as either transport receives it. */
export interface OperationRequest {
  readonly query?: string;
  readonly variables?: Record<string, unknown> | null;
  readonly operationName?: string | null;
  readonly extensions?: Record<string, unknown> | null;
}

export interface OperationPipeline {
  /** One GraphQL request over HTTP: its status, headers and body. */
  http(request: HTTPGraphQLRequest, identity: RequestIdentity): Promise<HTTPGraphQLResponse>;
  /** One WebSocket operation: its single result, or a subscription's stream of results. */
  run(request: OperationRequest, identity: RequestIdentity, transport: Transport): Promise<FormattedExecutionResult | AsyncGenerator<FormattedExecutionResult>>;
  /** The gate in front of units of work (its load is a metric). */
  readonly gate: ConnectionGate;
  stop(): Promise<void>;
}

/**
 * The one path every GraphQL operation takes, whichever transport brought it. Apollo Server's request
 * pipeline does the generic steps: request parsing, persisted queries, parsing with a token cap,
 * validation (introspection off in production), the validated-document cache, operation selection.
 * Before Apollo sees an operation, its caller's rate is counted (`RateLimits`): every operation counts,
 * valid or not, and one over the limit is refused (RATE_LIMITED) before any parsing. The plugin below
 * adds the rest of ours, in this order:
 *
 * 1. admit (`didResolveOperation`): subscriptions only over WebSocket; variables coerced (bad ones,
 *    and text holding NUL, are BAD_USER_INPUT); depth, complexity and root-field limits; the caller's
 *    token and tenant (`admitCaller`); a mutation's idempotency key and its scope. Nothing here
 *    touches the database.
 * 2. run (`responseForOperation`): session fields outside any transaction (they open their own and
 *    hash passwords holding no connection); everything else as one unit of work in the tenant
 *    (`runUnitOfWork`: the caller's current role and active flag first, a superadmin's access audited
 *    inside it), once the tenant has a slot in the connection gate (its share of the pool); a keyed
 *    mutation at most once per key, its answer stored in the same transaction (`runOnce`), looked up
 *    only after that check (a deactivated caller gets no replay); subscriptions on a plain context,
 *    the caller checked the same way first.
 * 3. observe (`willSendResponse`): the contract's HTTP status (and Retry-After), metrics, one log line.
 *
 * With tracing on, each operation runs inside its span (`inOperationSpan`), the unit of work included.
 * Errors are masked by `formatError` on every path: Apollo applies it to its own, `run` to execution's.
 * `plugins` are more Apollo plugins (an entry point's hooks; tests inject failures with them).
 */
export async function createOperationPipeline(
  schema: GraphQLSchema,
  services: Services,
  metrics: Metrics,
  rateLimits?: RateLimits,
  plugins: readonly ApolloServerPlugin<OperationInput>[] = [],
): Promise<OperationPipeline> {
  const { production } = services.config;
  const gate = connectionGate(services);
  const format = (result: ExecutionResult): FormattedExecutionResult => ({
    ...result,
    errors: result.errors?.map((e) => formatError(e.toJSON(), e, services.log, production)),
  });

  /** Runs `fn` in the operation's span when tracing is on; when it is off, not even the API is called. */
  const traced = <T>(identity: RequestIdentity, headers: HeaderMap | undefined, fn: (span?: Span) => Promise<T>): Promise<T> =>
    services.config.tracing ? inOperationSpan(identity, headers, fn) : fn();

  /** The caller's rate, counted before Apollo parses anything: a refusal, observed like any operation, or null. */
  const admitRate = async (identity: RequestIdentity, transport: Transport, span: Span | undefined): Promise<AppError | null> => {
    const refusal = (await rateLimits?.admit(identity)) ?? null;
    if (refusal) {
      const labels = { operation: undefined, type: undefined, outcome: refusal.code, transport };
      metrics.observe(labels, 0);
      if (span) recordFailure(span, refusal.code);
      requestLogger(services, identity).info({ ...labels, status: statusForCode(refusal.code) }, 'graphql operation');
    }
    return refusal;
  };

  const plugin: ApolloServerPlugin<OperationInput> = {
    async requestDidStart({ contextValue: input }) {
      const started = process.hrtime.bigint();
      let shape: OperationShape | undefined;
      let sessionOnly = false;
      let keyed: IdempotentRequest | undefined;
      let replayed = false;
      return {
        async didResolveOperation({ operation, document, request, source }) {
          if (!operation) throw new AppError('BAD_REQUEST', request.operationName ? `No operation named "${request.operationName}"` : 'The document holds several operations: name one (operationName)');
          if (input.span) describeOperation(input.span, operation);
          if (operation.operation === 'subscription' && input.transport !== 'ws') {
            throw new AppError('BAD_REQUEST', 'Subscriptions run over WebSocket (protocol graphql-transport-ws) only');
          }
          shape = analyzeOperation(schema, document, operation, coerceVariables(schema, operation, request.variables));
          enforceLimits(shape, operation);
          admitCaller(input.identity, shape.rootFields.values());
          sessionOnly = [...shape.rootFields.values()].every((f) => f === '__typename' || SESSION_FIELDS.has(f));
          if (operation.operation === 'mutation' && input.idempotencyKey !== undefined) {
            const key = parseIdempotencyKey(input.idempotencyKey);
            keyed = idempotentRequest(input.identity, key, { source, operationName: request.operationName, variables: request.variables }, sessionOnly);
          }
        },

        async responseForOperation({ operation, document, request }) {
          const args: ExecutionArgs = { schema, document, operationName: request.operationName, variableValues: request.variables };
          const fields = [...shape!.rootFields.values()];
          const name = operationLabel(operation, fields);
          try {
            if (operation.operation === 'subscription') {
              // No unit of work outlives a subscription: the caller is checked as they are now on its own.
              const now = await currentIdentity(services, input.identity);
              const result = await subscribe({ ...args, contextValue: plainContext(services, now.identity, now.tenant) });
              if (!(Symbol.asyncIterator in result)) return single(format(result));
              input.outcome.stream = mapStream(result, format);
              return single({});
            }
            const run = async (ctx: RequestContext) => format((await execute({ ...args, contextValue: ctx })) as ExecutionResult);
            // Session fields act on the session they start or present, never as the caller's token.
            if (sessionOnly) return single(await run(plainContext(services, { ...input.identity, principal: null, authError: null })));
            // A query writes nothing, unless it is a superadmin's, whose access is audited in its transaction.
            const readOnly = operation.operation === 'query' && input.identity.principal?.role !== Role.SUPERADMIN;
            const answer = await gate.run(gateKey(input.identity), () =>
              runUnitOfWork(
                services,
                input.identity,
                async (ctx) => {
                  await auditSuperadminAccess(ctx, name);
                  return keyed ? runOnce(ctx.em, keyed, () => run(ctx)) : { result: await run(ctx), replayed: false };
                },
                { readOnly },
              ),
            );
            replayed = answer.replayed;
            if (!replayed) return single(answer.result);
            input.span?.setAttribute(SPAN_ATTRIBUTES.replayed, true);
            return input.transport === 'http'
              ? single(answer.result, new HeaderMap([[REPLAYED_HEADER, 'true']]))
              : single({ ...answer.result, extensions: { ...answer.result.extensions, [REPLAYED_EXTENSION]: true } });
          } catch (err) {
            return single(format({ errors: [err instanceof GraphQLError ? err : new GraphQLError('Internal server error', { originalError: err as Error })] }));
          }
        },

        async willSendResponse({ response, operation }) {
          const body = response.body.kind === 'single' ? response.body.singleResult : undefined;
          const firstCode = body?.errors?.[0]?.extensions?.code as string | undefined;
          // Apollo's 405 (a mutation or subscription sent with GET, `Allow: POST`) is GraphQL over HTTP's
          // answer to the method, whatever the code: it stands.
          if (body?.errors?.length && !hasAnyData(body.data) && response.http.status !== 405) {
            response.http.status = statusForCode(firstCode);
            const retryAfter = body.errors[0].extensions?.retryAfter;
            if (typeof retryAfter === 'number') response.http.headers.set('retry-after', String(retryAfter));
          }
          if (input.span && firstCode) recordFailure(input.span, firstCode);
          const seconds = Number(process.hrtime.bigint() - started) / 1e9;
          const labels = { operation: operation?.name?.value, type: operation?.operation, outcome: firstCode ?? 'ok', transport: input.transport };
          metrics.observe(labels, seconds);
          const line = { ...labels, status: response.http.status ?? 200, durationMs: Math.round(seconds * 1000), ...(replayed && { replayed }) };
          requestLogger(services, input.identity).info(line, 'graphql operation');
        },
      };
    },
  };

  const apollo = new ApolloServer<OperationInput>({
    schema,
    introspection: !production,
    hideSchemaDetailsFromClientErrors: production,
    includeStacktraceInErrorResponses: false,
    // Callers authenticate with a bearer token only (no cookie, no ambient credential a cross-site page
    // could make a browser send), so there is nothing for CSRF prevention to protect; on, it refused
    // every GET without a preflight-forcing header, and urql sends queries as GET by default.
    csrfPrevention: false,
    parseOptions: { maxTokens: MAX_TOKENS },
    // A document can break many rules at once (hundreds of unused variables): stop at a few.
    validationOptions: { maxErrors: 10 },
    formatError: (formatted, error) => formatError(formatted, error, services.log, production),
    // Apollo's own messages as JSON log lines, like ours (its default logger prints plain text).
    logger: services.log,
    // The servers handle SIGTERM themselves: requests in flight finish before Apollo stops.
    stopOnTerminationSignals: false,
    plugins: [ApolloServerPluginLandingPageDisabled(), plugin, ...plugins],
  });
  await apollo.start();

  return {
    http: (request, identity) =>
      traced(identity, request.headers, async (span) => {
        const refusal = await admitRate(identity, 'http', span);
        if (refusal) {
          const headers = new HeaderMap([['content-type', 'application/json; charset=utf-8'], ['retry-after', String(refusal.extensions.retryAfter)]]);
          return { status: statusForCode(refusal.code), headers, body: { kind: 'complete', string: JSON.stringify(format({ errors: [refusal] })) } };
        }
        const idempotencyKey = request.headers.get(IDEMPOTENCY_HEADER);
        return apollo.executeHTTPGraphQLRequest({ httpGraphQLRequest: request, context: async () => ({ identity, transport: 'http', span, idempotencyKey, outcome: {} }) });
      }),
    run: (request, identity, transport) =>
      traced(identity, undefined, async (span) => {
        const refusal = await admitRate(identity, transport, span);
        if (refusal) return format({ errors: [refusal] });
        const outcome: OperationInput['outcome'] = {};
        const idempotencyKey = request.extensions?.[IDEMPOTENCY_EXTENSION];
        const response = await apollo.executeOperation(
          { query: request.query, variables: request.variables ?? undefined, operationName: request.operationName ?? undefined, extensions: request.extensions ?? undefined },
          { contextValue: { identity, transport, span, idempotencyKey, outcome } },
        );
        if (outcome.stream) return outcome.stream;
        return response.body.kind === 'single' ? response.body.singleResult : { errors: [{ message: 'Incremental delivery is not supported', extensions: { code: 'BAD_REQUEST' } }] };
      }),
    gate,
    stop: () => apollo.stop(),
  };
}

/**
 * The gate in front of the unit of work. Its total leaves one pooled connection to what runs outside
 * it (identifying callers, session fields, the in-process worker, /readyz), so those never wait for a
 * slow unit of work; a tenant's share is at most that total.
 */
function connectionGate({ orm, config }: Services): ConnectionGate {
  const poolSize = orm.config.get('pool')?.max ?? config.database.poolSize;
  const total = Math.max(1, poolSize - 1);
  return new ConnectionGate({ perKey: Math.min(config.database.tenantMaxConnections, total), total, maxWaitMs: config.database.acquireTimeoutMs });
}

/** Whose share a unit of work counts against: its tenant's, else its caller's (a superadmin's platform work). */
function gateKey(identity: RequestIdentity): string {
  if (identity.tenantId && !identity.tenantError) return `tenant:${identity.tenantId}`;
  return identity.principal ? `user:${identity.principal.userId}` : 'anonymous';
}

/** Variables coerced against the operation's definitions, as execution will see them; bad ones are BAD_USER_INPUT. */
function coerceVariables(schema: GraphQLSchema, operation: OperationDefinitionNode, inputs: Record<string, unknown> | undefined): Record<string, unknown> {
  const { coerced, errors } = getVariableValues(schema, operation.variableDefinitions ?? [], inputs ?? {}, { maxErrors: 1 });
  if (errors?.length) throw badInput(errors[0].message);
  return coerced!;
}

function operationLabel(operation: OperationDefinitionNode, rootFields: readonly string[]): string {
  return operation.name?.value ?? rootFields.join(',');
}

function single(result: FormattedExecutionResult, headers = new HeaderMap()): GraphQLResponse {
  return { http: { status: undefined, headers }, body: { kind: 'single', singleResult: result } };
}

/**
 * `source` with `fn` applied to each result. Hand-written rather than an async generator function: a
 * generator suspended in `await source.next()` would not run `return()` until the next event arrived,
 * so a client's unsubscribe (or a closed socket) would leave the subscription open until then.
 */
function mapStream<T, U>(source: AsyncGenerator<T> | AsyncIterableIterator<T>, fn: (value: T) => U): AsyncGenerator<U> {
  const iterator = source[Symbol.asyncIterator]();
  const close = async (): Promise<IteratorResult<U>> => {
    await iterator.return?.();
    return { value: undefined, done: true };
  };
  const mapped: AsyncGenerator<U> = {
    next: async () => {
      const step = await iterator.next();
      return step.done ? { value: undefined, done: true } : { value: fn(step.value), done: false };
    },
    return: close,
    throw: async (err) => {
      await close();
      throw err;
    },
    [Symbol.asyncIterator]: () => mapped,
    [Symbol.asyncDispose]: async () => void (await close()),
  };
  return mapped;
}
