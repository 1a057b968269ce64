import { type DocumentNode, type ExecutionArgs, type FormattedExecutionResult, type GraphQLSchema, parse } from 'graphql';
import type { Context } from 'graphql-ws';
import type { IncomingMessage, Server } from 'node:http';
import { useServer, type Extra } from 'graphql-ws/use/ws';
import { type WebSocket, WebSocketServer } from 'ws';
import { isGone } from '../entities/Tenant.js';
import { bearerToken, verifyAccessToken } from '../auth/accessToken.js';
import { identify, type Services } from '../context/requestContext.js';
import { AppError } from '../errors.js';
import { clientAddress, type ProxyTrust } from './clientAddress.js';
import { failureResponse } from './errors.js';
import type { OperationPipeline } from './pipeline.js';

/**
 * WebSocket close codes of this server (docs/api.md). graphql-ws clients retry 4403 (and call a lazy
 * `connectionParams` again for a fresh token) and 1013; they treat 4400, 4401, 4406, 4500 and 1009 as
 * fatal. (ws itself closes with 1009 a message over `maxPayload`.)
 */
export const CLOSE = {
  /** An invalid token at connect, or the connection's token expired (reason TOKEN_EXPIRED). */
  FORBIDDEN: 4403,
  /** The user already holds as many sockets as allowed (reason TOO_MANY_CONNECTIONS): retried with backoff. */
  TRY_AGAIN_LATER: 1013,
  /** The token's tenant is being erased (reason TENANT_DELETED): fatal for graphql-ws clients, as it should be. */
  UNAUTHORIZED: 4401,
} as const;

/** The largest message a client may send, as express's body limit for HTTP (ws's own default is 100 MiB). */
export const MAX_MESSAGE_BYTES = 1024 * 1024;
/** Live subscriptions per socket; the next one is refused with TOO_MANY_SUBSCRIPTIONS. */
export const MAX_SUBSCRIPTIONS_PER_SOCKET = 100;

export interface WsLimits {
  /** Decides the client address of an upgrade request, as `trust proxy` does for HTTP. */
  readonly trust: ProxyTrust;
  /** Sockets one user may hold open in this process (0 = no cap). */
  readonly maxSocketsPerUser: number;
  /** Sockets one client address may hold open in this process (0 = no cap). */
  readonly maxSocketsPerIp: number;
}

/** What the server keeps per socket; `address` and `subscriptions` are set at connect, before any operation. */
interface ConnectionState extends Record<PropertyKey, unknown> {
  expiryTimer?: NodeJS.Timeout;
  /** The client address of the upgrade request. */
  address?: string;
  /** The signed-in user this socket counts against. */
  userId?: string;
  /** Ids of this socket's live subscriptions. */
  subscriptions?: Set<string>;
  /** The tenant of the connection's token: its sockets close when it is erased. */
  tenantId?: string;
}

/** What /metrics reports of this server's WebSockets. */
export interface WsStats {
  /** Sockets open, whether or not their client has sent `connection_init` yet. */
  readonly sockets: number;
  /** Live subscriptions over all of them. */
  readonly subscriptions: number;
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
 * (src/server/pipeline.ts): rate limit, parse, validation, limits, guard, unit of work and masking are
 * not repeated here. An operation's errors arrive as its result (`next` with `errors`, then `complete`).
 *
 * What only a socket can hold is capped here: message size (1009), live subscriptions per socket
 * (TOO_MANY_SUBSCRIPTIONS), sockets per client address (HTTP 429 at the upgrade) and per user (1013).
 */
export function attachGraphqlWs(
  httpServer: Server,
  schema: GraphQLSchema,
  pipeline: OperationPipeline,
  services: Services,
  limits: WsLimits,
  /** Registers an operation that a graceful close lets finish (the server's own ORM and Apollo stop after). */
  track: <T>(operation: Promise<T>) => Promise<T>,
) {
  /** Accepted connections, while their socket is open. */
  const connections = new Set<Context<Record<string, unknown>, Extra & ConnectionState>>();
  const socketsPerIp = new SocketCounts(limits.maxSocketsPerIp);
  const tenantSockets = new TenantSockets();
  // A tenant going DELETING takes its users' sockets with it (every process hears the status event).
  const stopListening = services.events.subscribe((event) => {
    if (event.type === 'status' && isGone(event.status)) tenantSockets.close(event.tenantId, CLOSE.UNAUTHORIZED, 'TENANT_DELETED');
  });
  const socketsPerUser = new SocketCounts(limits.maxSocketsPerUser);
  const addressOf = (req: IncomingMessage) => clientAddress(req, limits.trust);
  const wss = new WebSocketServer({
    server: httpServer,
    path: '/graphql',
    maxPayload: MAX_MESSAGE_BYTES,
    // Called back synchronously: the 'connection' below counts the socket before the next upgrade is checked.
    verifyClient: ({ req }, accept) => (socketsPerIp.full(addressOf(req)) ? accept(false, 429, 'Too Many Requests') : accept(true)),
  });
  wss.on('connection', (socket, req) => {
    const address = addressOf(req);
    socketsPerIp.add(address);
    socket.once('close', () => socketsPerIp.remove(address));
  });

  const disposable = useServer<Record<string, unknown>, Extra & ConnectionState>(
    {
      schema,
      // Close reasons never carry internal messages, whatever NODE_ENV says.
      isProd: true,
      onConnect: (ctx) => {
        ctx.extra.address = addressOf(ctx.extra.request);
        ctx.extra.subscriptions = new Set();
        const accept = () => {
          connections.add(ctx);
          ctx.extra.socket.once('close', () => connections.delete(ctx));
          return true;
        };
        const authorization = ctx.connectionParams?.authorization;
        if (authorization === undefined || authorization === null || authorization === '') return accept();
        const token = bearerToken(authorization);
        if (!token) return false;
        let principal;
        try {
          principal = verifyAccessToken(services.tokens.secret, token);
        } catch {
          return false;
        }
        if (socketsPerUser.full(principal.userId)) {
          // Closed here with its own code; graphql-ws's 4403 for `false` then finds the socket closing.
          ctx.extra.socket.close(CLOSE.TRY_AGAIN_LATER, 'TOO_MANY_CONNECTIONS');
          return false;
        }
        socketsPerUser.add((ctx.extra.userId = principal.userId));
        if (principal.tenantId) tenantSockets.add((ctx.extra.tenantId = principal.tenantId), ctx.extra.socket);
        ctx.extra.expiryTimer = setTimeout(() => ctx.extra.socket.close(CLOSE.FORBIDDEN, 'TOKEN_EXPIRED'), Math.max(0, principal.exp * 1000 - Date.now()));
        return accept();
      },
      onClose: (ctx) => {
        clearTimeout(ctx.extra.expiryTimer);
        if (ctx.extra.userId) socketsPerUser.remove(ctx.extra.userId);
        if (ctx.extra.tenantId) tenantSockets.remove(ctx.extra.tenantId, ctx.extra.socket);
      },
      onSubscribe: async (ctx, id, payload): Promise<ExecutionArgs> => {
        const params = ctx.connectionParams ?? {};
        const tenantHeader = params['x-tenant-id'];
        let result: Awaited<ReturnType<OperationPipeline['run']>>;
        try {
          const identified = identify(services, {
            authorization: params.authorization,
            hints: { header: typeof tenantHeader === 'string' ? tenantHeader : undefined, host: ctx.extra.request.headers.host },
            address: ctx.extra.address!,
          });
          result = await track(identified.then((identity) => pipeline.run(payload, identity, 'ws')));
          if (Symbol.asyncIterator in result) result = await holdSubscription(ctx.extra.subscriptions!, ctx.subscriptions, id, result);
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
  // A socket's 'error' is the client breaking the protocol (a message over maxPayload, a bad frame),
  // and ws has already closed it with the matching code. graphql-ws reports it as an internal error on
  // the console, stack and all, once per socket: log a warning line instead.
  wss.on('connection', (socket) => {
    socket.removeAllListeners('error');
    socket.on('error', (err) => services.log.warn({ code: (err as { code?: string }).code, message: err.message }, 'WebSocket closed for a protocol error'));
  });

  return {
    wss,
    /** Counted when asked (a scrape): a subscription is live while graphql-ws still lists its id (see `holdSubscription`). */
    stats(): WsStats {
      let subscriptions = 0;
      for (const ctx of connections) for (const id of ctx.extra.subscriptions!) if (id in ctx.subscriptions) subscriptions++;
      return { sockets: wss.clients.size, subscriptions };
    },
    async close() {
      stopListening();
      for (const client of wss.clients) client.close(1001, 'Server shutting down');
      await disposable.dispose();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

/**
 * Takes a subscription slot of the socket for `id`, or ends the stream at once and answers
 * TOO_MANY_SUBSCRIPTIONS. Checked and taken in one synchronous step, so concurrent subscribes on one
 * socket cannot all pass the check before any of them counts.
 *
 * A slot is free again once graphql-ws no longer lists its id among the socket's operations (it drops
 * an id when the client completes it, when it ends, and when the socket closes), read here rather than
 * from `onComplete`, which waits for a pending `next()` that an unsubscribed stream may never settle.
 */
async function holdSubscription(
  live: Set<string>,
  operations: Readonly<Record<string, unknown>>,
  id: string,
  stream: AsyncGenerator<FormattedExecutionResult>,
): Promise<AsyncGenerator<FormattedExecutionResult> | FormattedExecutionResult> {
  for (const held of live) if (!(held in operations)) live.delete(held);
  if (live.size < MAX_SUBSCRIPTIONS_PER_SOCKET) {
    live.add(id);
    return stream;
  }
  await stream.return(undefined);
  const refusal = new AppError('TOO_MANY_SUBSCRIPTIONS', `At most ${MAX_SUBSCRIPTIONS_PER_SOCKET} subscriptions per connection: complete one first`, { limit: MAX_SUBSCRIPTIONS_PER_SOCKET });
  return { errors: [refusal.toJSON()] };
}

/** Open sockets per key (a client address or a user id) in this process, against a cap (0 = none). */
class SocketCounts {
  private readonly counts = new Map<string, number>();
  constructor(private readonly max: number) {}

  full(key: string): boolean {
    return this.max > 0 && (this.counts.get(key) ?? 0) >= this.max;
  }

  add(key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  remove(key: string): void {
    const left = (this.counts.get(key) ?? 1) - 1;
    if (left > 0) this.counts.set(key, left);
    else this.counts.delete(key);
  }
}

/** The open sockets of each tenant's users in this process. */
class TenantSockets {
  private readonly byTenant = new Map<string, Set<WebSocket>>();

  add(tenantId: string, socket: WebSocket): void {
    let set = this.byTenant.get(tenantId);
    if (!set) this.byTenant.set(tenantId, (set = new Set()));
    set.add(socket);
  }

  remove(tenantId: string, socket: WebSocket): void {
    const set = this.byTenant.get(tenantId);
    set?.delete(socket);
    if (set?.size === 0) this.byTenant.delete(tenantId);
  }

  close(tenantId: string, code: number, reason: string): void {
    for (const socket of this.byTenant.get(tenantId) ?? []) socket.close(code, reason);
  }
}
