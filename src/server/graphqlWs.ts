import { type DocumentNode, type ExecutionArgs, type GraphQLSchema, parse } from 'graphql';
import type { Server } from 'node:http';
import { useServer, type Extra } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import { bearerToken, verifyAccessToken } from '../auth/accessToken.js';
import { identify, type Services } from '../context/requestContext.js';
import { failureResponse } from './errors.js';
import type { OperationPipeline } from './pipeline.js';

/**
 * WebSocket close codes of this server (docs/api.md). graphql-ws clients retry 4403 (and call a lazy
 * `connectionParams` again for a fresh token); they treat 4400, 4401, 4406 and 4500 as fatal.
 */
export const CLOSE = {
  /** An invalid token at connect, or the connection's token expired (reason TOKEN_EXPIRED). */
  FORBIDDEN: 4403,
} as const;

interface ConnectionState extends Record<PropertyKey, unknown> {
  expiryTimer?: NodeJS.Timeout;
}

/**
 * graphql-ws hands the pipeline's result to `execute`/`subscribe` through the execution args: the
 * operation already ran (or its subscription started) in `onSubscribe`, inside the pipeline.
 */
const ALREADY_RUN: DocumentNode = parse('{ __typename }');

/**
 * graphql-ws on the HTTP server's `/graphql` path. The connection's token is checked at connect (4403
 * when invalid) and its expiry closes the socket (4403, reason TOKEN_EXPIRED). Every operation is
 * identified with the connection's params and Host, then run by the same pipeline as HTTP
 * (src/server/pipeline.ts): parse, validation, limits, guard, unit of work and masking are not repeated
 * here. An operation's errors arrive as its result (`next` with `errors`, then `complete`).
 */
export function attachGraphqlWs(httpServer: Server, schema: GraphQLSchema, pipeline: OperationPipeline, services: Services) {
  const wss = new WebSocketServer({ server: httpServer, path: '/graphql' });

  const disposable = useServer<Record<string, unknown>, Extra & ConnectionState>(
    {
      schema,
      // Close reasons never carry internal messages, whatever NODE_ENV says.
      isProd: true,
      onConnect: (ctx) => {
        const authorization = ctx.connectionParams?.authorization;
        if (authorization === undefined || authorization === null || authorization === '') return true;
        const token = bearerToken(authorization);
        if (!token) return false;
        try {
          const { exp } = verifyAccessToken(services.jwtSecret, token);
          ctx.extra.expiryTimer = setTimeout(() => ctx.extra.socket.close(CLOSE.FORBIDDEN, 'TOKEN_EXPIRED'), Math.max(0, exp * 1000 - Date.now()));
          return true;
        } catch {
          return false;
        }
      },
      onClose: (ctx) => clearTimeout(ctx.extra.expiryTimer),
      onSubscribe: async (ctx, _id, payload): Promise<ExecutionArgs> => {
        const params = ctx.connectionParams ?? {};
        const tenantHeader = params['x-tenant-id'];
        let result: Awaited<ReturnType<OperationPipeline['run']>>;
        try {
          const identity = await identify(services, {
            authorization: params.authorization,
            hints: { header: typeof tenantHeader === 'string' ? tenantHeader : undefined, host: ctx.extra.request.headers.host },
          });
          result = await pipeline.run(payload, identity, 'ws');
        } catch (err) {
          result = { errors: [failureResponse(err, services.log, services.config.production).error] };
        }
        return { schema, document: ALREADY_RUN, contextValue: result };
      },
      execute: (args) => args.contextValue as never,
      subscribe: (args) => args.contextValue as never,
      // Results are already formatted (masked) by the pipeline: sent as they are.
      onNext: (_ctx, _id, _payload, _args, result) => result as never,
    },
    wss,
  );

  return {
    wss,
    async close() {
      for (const client of wss.clients) client.close(1001, 'Server shutting down');
      await disposable.dispose();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
