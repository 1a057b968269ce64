import {
  execute,
  type ExecutionArgs,
  type ExecutionResult,
  GraphQLError,
  getOperationAST,
  NoSchemaIntrospectionCustomRule,
  parse,
  specifiedRules,
  subscribe,
  validate,
  type GraphQLSchema,
  type DocumentNode,
} from 'graphql';
import type { Server } from 'node:http';
import { useServer, type Extra } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import { bearerToken, verifyAccessToken } from '../auth/accessToken.js';
import { identify, plainContext, type RequestContext, type RequestIdentity, requestLogger, runUnitOfWork, type Services } from '../context/requestContext.js';
import { AppError } from '../errors.js';
import { guardOperation, rootFieldNames } from '../schema/guards.js';
import { enforceLimits } from '../schema/limits.js';
import { formatError } from './errors.js';
import type { Metrics } from './metrics.js';

const CLOSE_TOKEN_EXPIRED = 4401;

/** What `onSubscribe` hands to `execute`/`subscribe`: the identity and anything that already failed. */
interface Preflight {
  readonly identity?: RequestIdentity;
  readonly rootFields: string[];
  readonly operationName?: string;
  readonly error?: GraphQLError;
}

interface ConnectionState extends Record<PropertyKey, unknown> {
  expiryTimer?: NodeJS.Timeout;
}

const PLACEHOLDER: DocumentNode = parse('{ __typename }');

/**
 * graphql-ws on the HTTP server's `/graphql` path. None of Apollo's settings apply here, so this wires
 * the same pieces itself: token check at connect (4403 when invalid) and per operation, close with
 * 4401 when the token expires, validation with introspection off in production, depth/complexity
 * limits, the operation guard, the same unit of work per query/mutation, and the same error masking.
 * Every failure of an operation is delivered as that operation's result with `errors`.
 */
export function attachGraphqlWs(httpServer: Server, schema: GraphQLSchema, services: Services, metrics: Metrics) {
  const { production } = services.config;
  const wss = new WebSocketServer({ server: httpServer, path: '/graphql' });
  const rules = production ? [...specifiedRules, NoSchemaIntrospectionCustomRule] : specifiedRules;

  const fail = (error: GraphQLError, rootFields: string[] = []): ExecutionArgs => ({
    schema,
    document: PLACEHOLDER,
    contextValue: { rootFields, error } satisfies Preflight,
  });

  const disposable = useServer<Record<string, unknown>, Extra & ConnectionState>(
    {
      schema,
      onConnect: (ctx) => {
        const authorization = ctx.connectionParams?.authorization;
        if (authorization === undefined || authorization === null || authorization === '') return true;
        const token = bearerToken(authorization);
        if (!token) return false;
        try {
          const { exp } = verifyAccessToken(services.jwtSecret, token);
          ctx.extra.expiryTimer = setTimeout(() => ctx.extra.socket.close(CLOSE_TOKEN_EXPIRED, 'TOKEN_EXPIRED'), Math.max(0, exp * 1000 - Date.now()));
          return true;
        } catch {
          return false;
        }
      },
      onClose: (ctx) => clearTimeout(ctx.extra.expiryTimer),
      onSubscribe: async (ctx, _id, payload) => {
        let document: DocumentNode;
        try {
          document = parse(payload.query);
        } catch (err) {
          return fail(new AppError('GRAPHQL_PARSE_FAILED', (err as Error).message));
        }
        const errors = validate(schema, document, rules);
        if (errors.length > 0) return fail(new AppError('GRAPHQL_VALIDATION_FAILED', errors[0].message));
        const operation = getOperationAST(document, payload.operationName);
        if (!operation) return fail(new AppError('BAD_REQUEST', 'Could not determine the operation to run'));
        const rootFields = rootFieldNames(document, operation);
        try {
          enforceLimits(schema, document, operation, payload.variables);
          const params = ctx.connectionParams ?? {};
          const identity = await identify(services, {
            authorization: params.authorization,
            hints: { header: typeof params['x-tenant-id'] === 'string' ? params['x-tenant-id'] : undefined, host: ctx.extra.request.headers.host },
          });
          const preflight: Preflight = { identity, rootFields, operationName: payload.operationName ?? operation.name?.value };
          return { schema, document, operationName: payload.operationName, variableValues: payload.variables, contextValue: preflight };
        } catch (err) {
          if (err instanceof GraphQLError) return fail(err, rootFields);
          throw err;
        }
      },
      execute: (args) => run(args, false),
      subscribe: (args) => run(args, true),
      onNext: (_ctx, _id, _payload, _args, result) => {
        return result.errors ? { ...result, errors: result.errors.map((e) => formatError(e.toJSON(), e, services.log, production)) } : result;
      },
    },
    wss,
  );

  /**
   * Queries and mutations run in the request's unit of work (one transaction, tenant bound).
   * Subscriptions outlive any transaction: they get a plain EntityManager and read what they need.
   */
  async function run(args: ExecutionArgs, isSubscription: boolean): Promise<ExecutionResult | AsyncIterableIterator<ExecutionResult>> {
    const preflight = args.contextValue as Preflight;
    const begun = process.hrtime.bigint();
    const observe = (outcome: string) =>
      metrics.observe({ operation: preflight.operationName, type: isSubscription ? 'subscription' : 'query/mutation', outcome, transport: 'ws' }, Number(process.hrtime.bigint() - begun) / 1e9);
    if (preflight.error || !preflight.identity) {
      observe(String(preflight.error?.extensions.code ?? 'INTERNAL_SERVER_ERROR'));
      return { errors: [preflight.error ?? new GraphQLError('Internal server error')] };
    }
    const identity = preflight.identity;
    const guarded = async (ctx: RequestContext) => {
      try {
        await guardOperation(ctx, preflight.rootFields, preflight.operationName);
      } catch (err) {
        if (err instanceof GraphQLError) return { errors: [err] } as ExecutionResult;
        throw err;
      }
      const withCtx = { ...args, contextValue: ctx };
      return isSubscription ? subscribe(withCtx) : execute(withCtx);
    };
    const log = requestLogger(services, identity);
    const result = isSubscription ? await guarded(plainContext(services, identity, log)) : await runUnitOfWork(services, identity, guarded);
    const outcome = Symbol.asyncIterator in result ? 'ok' : String((result as ExecutionResult).errors?.[0]?.extensions?.code ?? 'ok');
    observe(outcome);
    log.info({ operation: preflight.operationName, outcome, transport: 'ws' }, 'graphql operation');
    return result;
  }

  return {
    wss,
    async close() {
      for (const client of wss.clients) client.close(1001, 'Server shutting down');
      await disposable.dispose();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
