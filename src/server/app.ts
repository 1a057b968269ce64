import type { ApolloServerPlugin } from '@apollo/server';
import cors from 'cors';
import express, { type NextFunction, type Request, type Response } from 'express';
import { timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { PasswordHasher } from '../auth/passwords.js';
import type { Config } from '../config.js';
import type { Services } from '../context/requestContext.js';
import { pendingMigrationNames } from '../db/database.js';
import type { Orm } from '../db/orm.js';
import { DnsChallenge } from '../domains/dnsChallenge.js';
import type { Provisioner, ProvisioningStats } from '../jobs/provisioner.js';
import type { LifecycleJobs } from '../lifecycle/queue.js';
import { TenantEvents } from '../jobs/tenantEvents.js';
import { buildTenantrySchema } from '../schema/build.js';
import { DOWNLOAD_PATH, downloadHandler } from '../lifecycle/downloads.js';
import { proxyTrust } from './clientAddress.js';
import { graphqlHttpHandler } from './graphqlHttp.js';
import { attachGraphqlWs } from './graphqlWs.js';
import { HttpDrain } from './httpDrain.js';
import { developmentIde } from './ide.js';
import { Metrics } from './metrics.js';
import { createOperationPipeline, IDEMPOTENCY_HEADER, type OperationInput, REPLAYED_HEADER } from './pipeline.js';
import { RateLimits } from './rateLimit.js';
import { assignRequestId, REQUEST_ID_HEADER } from './requestId.js';
import { securityHeaders } from './securityHeaders.js';

/**
 * Headers a browser may send cross-origin (the preflight's Access-Control-Allow-Headers): ours (a
 * mutation's Idempotency-Key among them), those Apollo's clients add (Apollo Client's `clientAwareness`
 * and `enhancedClientAwareness` headers, Apollo iOS and Kotlin's operation name), the request id and W3C
 * trace context. One missing, and the browser refuses the whole request ("Failed to fetch").
 */
const CORS_REQUEST_HEADERS = [
  'content-type',
  'authorization',
  'x-tenant-id',
  IDEMPOTENCY_HEADER,
  'apollo-require-preflight',
  'apollographql-client-name',
  'apollographql-client-version',
  'apollographql-library-name',
  'apollographql-library-version',
  'x-apollo-operation-name',
  REQUEST_ID_HEADER,
  'traceparent',
  'tracestate',
];

/** Response headers a browser lets a cross-origin page read: the request id, Retry-After, the replay mark. */
const CORS_EXPOSED_HEADERS = [REQUEST_ID_HEADER, 'retry-after', REPLAYED_HEADER];

/** How long a graceful close lets requests in flight run before it cuts their connections. */
export const SHUTDOWN_GRACE_MS = 10_000;

export interface AppOptions {
  readonly config: Config;
  readonly orm: Orm;
  /** App-role connection URL: the event listener's own connection. */
  readonly appUrl: string;
  readonly jwtSecret: string;
  readonly log: Logger;
  /** Enqueues preparations; /metrics reads its queue's depth and its jobs' outcomes. */
  readonly provisioner: Provisioner & ProvisioningStats;
  readonly lifecycle: LifecycleJobs;
  readonly passwords: PasswordHasher;
  /** More Apollo plugins for the operation pipeline (see `createOperationPipeline`). */
  readonly plugins?: readonly ApolloServerPlugin<OperationInput>[];
}

export interface App {
  readonly server: http.Server;
  readonly events: TenantEvents;
  /** Listens on `port` (and on METRICS_PORT, when set, for /metrics alone); resolves the API's port. */
  listen(port: number, host?: string): Promise<number>;
  /** Graceful: stop accepting, finish in-flight requests, close sockets, stop listening for events. */
  close(): Promise<void>;
}

/**
 * The HTTP server: GraphQL over HTTP (Apollo) and WebSocket (graphql-ws) on one port and path, health,
 * readiness and metrics. Where a request enters: `graphqlHttp.ts` / `graphqlWs.ts`; where its tenant is
 * decided: src/context; where it is enforced: src/filters and the RLS policies.
 */
export async function createApp(options: AppOptions): Promise<App> {
  const { config, orm, log } = options;
  const events = new TenantEvents(options.appUrl, log);
  await events.start();
  const tokens = { secret: options.jwtSecret, lifetimes: config.tokenLifetimes };
  const services: Services = { orm, config, tokens, log, provisioner: options.provisioner, lifecycle: options.lifecycle, events, passwords: options.passwords, dns: new DnsChallenge(config.dns) };
  const metrics = new Metrics();
  const schema = await buildTenantrySchema();
  const rateLimits = RateLimits.create(config, options.appUrl, log);
  const pipeline = await createOperationPipeline(schema, services, metrics, rateLimits, options.plugins);
  const trust = proxyTrust(config.trustProxy);
  const server = http.createServer();
  const drain = new HttpDrain(server);
  const handleGraphql = graphqlHttpHandler(pipeline, services);
  const graphql = (req: Request, res: Response) => drain.track(handleGraphql(req, res));

  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', trust);
  app.use(securityHeaders());
  app.use(assignRequestId);
  app.use(cors({ origin: config.corsOrigins, allowedHeaders: CORS_REQUEST_HEADERS, exposedHeaders: CORS_EXPOSED_HEADERS, maxAge: 600 }));

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    try {
      const pending = await pendingMigrationNames(orm);
      if (pending.length > 0) return void res.status(503).json({ status: 'migrations pending', pending });
      res.json({ status: 'ready' });
    } catch {
      res.status(503).json({ status: 'database unreachable' });
    }
  });
  const metricsApp = config.metricsPort === undefined ? app : express();
  metricsApp.get('/metrics', metricsHandler(metrics, config.metricsToken));
  if (config.production && config.metricsPort === undefined && !config.metricsToken) {
    log.warn('/metrics is public on the API port: set METRICS_PORT or METRICS_TOKEN');
  }

  // Tenant export archives, by signed link (src/lifecycle/downloads.ts).
  const download = downloadHandler(services);
  app.get(`${DOWNLOAD_PATH}/:exportId`, (req, res) => void drain.track(download(req, res)));

  app.use('/graphql', express.json({ limit: '1mb' }));
  const ide = config.production ? undefined : await developmentIde(log);
  if (ide) app.use(ide);
  app.post('/graphql', graphql);
  app.get('/graphql', graphql);
  // A body that is not JSON: the contract's BAD_REQUEST, not an HTML error page.
  app.use((err: Error & { status?: number; type?: string }, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(err);
    if (err.type === 'entity.parse.failed' || err.type === 'entity.too.large' || err.status === 400) {
      return void res.status(400).json({ errors: [{ message: 'Malformed request body', extensions: { code: 'BAD_REQUEST' } }] });
    }
    log.error({ err }, 'unhandled error');
    res.status(500).json({ errors: [{ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } }] });
  });

  server.on('request', app);
  const metricsServer = metricsApp === app ? undefined : http.createServer(metricsApp);
  const ws = attachGraphqlWs(server, schema, pipeline, services, { trust, maxSocketsPerUser: config.wsMaxSocketsPerUser, maxSocketsPerIp: config.wsMaxSocketsPerIp }, (operation) =>
    drain.track(operation),
  );
  metrics.watch({ pool: await orm.em.getConnection().getNativeClient(), gate: pipeline.gate, webSockets: ws.stats, provisioning: options.provisioner, lifecycle: options.lifecycle }, log);

  return {
    server,
    events,
    listen: async (port, host) => {
      if (metricsServer) await listenOn(metricsServer, config.metricsPort!, host);
      return listenOn(server, port, host);
    },
    close: async () => {
      if (metricsServer?.listening) await new Promise((resolve) => metricsServer.close(resolve));
      // Stop accepting; requests in flight finish (at most 10 s), keep-alive clients are told to leave;
      // only then Apollo stops.
      const drained = drain.close(SHUTDOWN_GRACE_MS);
      await ws.close();
      await drained;
      await pipeline.stop();
      await rateLimits?.close();
      await events.stop();
    },
  };
}

function listenOn(server: http.Server, port: number, host?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
  });
}

/** Prometheus text; with METRICS_TOKEN, only for `Authorization: Bearer <token>` (else 401). */
function metricsHandler(metrics: Metrics, token: string | undefined) {
  const expected = token === undefined ? undefined : Buffer.from(`Bearer ${token}`);
  return async (req: Request, res: Response) => {
    const given = Buffer.from(req.headers.authorization ?? '');
    if (expected && !(given.length === expected.length && timingSafeEqual(given, expected))) {
      return void res.status(401).set('www-authenticate', 'Bearer').json({ error: 'METRICS_TOKEN required' });
    }
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  };
}
