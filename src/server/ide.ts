import express, { type Request, type Router } from 'express';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Logger } from 'pino';

/** Where the IDE's scripts, styles and editor workers are served from. */
const ASSETS = '/ide';

/**
 * A browser opening `/graphql` in development gets GraphiQL 5 (the build that GraphQL Yoga ships,
 * taken from the `@graphql-yoga/render-graphiql` package: every asset is served from here, nothing
 * from a CDN). Queries and mutations go over HTTP with the headers typed into its Headers tab;
 * subscriptions over graphql-ws (the browser build of the `graphql-ws` package the server uses), with
 * that tab's `Authorization` and `x-tenant-id` as connection params.
 *
 * Never in production: app.ts does not call this there, and the package is a devDependency, imported
 * only here. Without it (a development start with production packages only) there is no IDE.
 */
export async function developmentIde(log: Logger): Promise<Router | undefined> {
  let graphiql: typeof import('@graphql-yoga/render-graphiql/graphiql');
  try {
    graphiql = await import('@graphql-yoga/render-graphiql/graphiql');
  } catch {
    log.warn('No GraphiQL on /graphql: @graphql-yoga/render-graphiql (a devDependency) is not installed');
    return undefined;
  }
  const require = createRequire(import.meta.url);
  const graphqlWs = await readFile(path.join(path.dirname(require.resolve('graphql-ws')), '../umd/graphql-ws.min.js'), 'utf8');

  const assets: Record<string, { type: string; body: string | Buffer }> = {
    'favicon.ico': { type: 'image/x-icon', body: Buffer.from(graphiql.favicon.replace(/^data:[^,]*;base64,/, ''), 'base64') },
    'graphiql.js': { type: 'text/javascript', body: graphiql.js },
    'graphiql.css': { type: 'text/css', body: graphiql.css },
    'graphql-ws.js': { type: 'text/javascript', body: graphqlWs },
    'start.js': { type: 'text/javascript', body: START_SCRIPT },
    // Monaco's workers, named by the labels it asks for (`getWorkerUrl` in START_SCRIPT).
    'workers/editorWorkerService.js': { type: 'text/javascript', body: graphiql.editorWorkerService },
    'workers/json.js': { type: 'text/javascript', body: graphiql.jsonWorker },
    'workers/graphql.js': { type: 'text/javascript', body: graphiql.graphqlWorker },
  };

  const router = express.Router();
  for (const [name, { type, body }] of Object.entries(assets)) {
    router.get(`${ASSETS}/${name}`, (_req, res) => void res.type(type).send(body));
  }
  // Only what a browser asks for as a page; GraphQL clients' GETs go on to the API.
  router.get('/graphql', (req, res, next) => (prefersHtml(req) ? void res.type('html').send(PAGE) : next()));
  return router;
}

/** A browser navigating (`Accept: text/html,…`) rather than a client asking for a GraphQL response. */
function prefersHtml(req: Request): boolean {
  return req.accepts(['application/graphql-response+json', 'application/json', 'text/html']) === 'text/html';
}

const PAGE = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <title>Tenantry GraphiQL</title>
    <link rel="icon" href="${ASSETS}/favicon.ico" />
    <link rel="stylesheet" href="${ASSETS}/graphiql.css" />
  </head>
  <body class="no-focus-outline">
    <div id="root" style="height: 100vh"></div>
    <script src="${ASSETS}/graphql-ws.js"></script>
    <script src="${ASSETS}/graphiql.js"></script>
    <script src="${ASSETS}/start.js"></script>
  </body>
</html>
`;

const DEFAULT_QUERY = `# Tenantry GraphiQL (development only). Sign up or log in, then put the access token into
# Headers: {"Authorization": "Bearer <accessToken>"}. Subscriptions run over WebSocket with it.
#
# mutation { login(input: {email: "ada@acme.io", password: "correct horse battery", tenant: "acme"}) { accessToken } }
# subscription { tenantStatusChanged { status at } }

query {
  me { id email role }
  currentTenant { name slug status }
}
`;

/**
 * The page's own script (a classic script: the CSP allows scripts from this origin only, none inline).
 * GraphiQL hands the fetcher the parsed document, which says whether the operation is a subscription.
 */
const START_SCRIPT = `(() => {
  const endpoint = new URL('/graphql', location.href);
  const wsUrl = endpoint.href.replace(/^http/, 'ws');
  const headerValue = (headers, name) => {
    for (const [key, value] of Object.entries(headers || {})) if (key.toLowerCase() === name && value) return String(value);
    return undefined;
  };
  // One graphql-ws client per set of connection params: a token typed into Headers opens a new socket.
  const sockets = new Map();
  const socketFor = (headers) => {
    const params = {};
    const authorization = headerValue(headers, 'authorization');
    const tenant = headerValue(headers, 'x-tenant-id');
    if (authorization) params.authorization = authorization;
    if (tenant) params['x-tenant-id'] = tenant;
    const key = JSON.stringify(params);
    if (!sockets.has(key)) sockets.set(key, graphqlWs.createClient({ url: wsUrl, connectionParams: params }));
    return sockets.get(key);
  };
  const isSubscription = (params, documentAST) => {
    const operations = ((documentAST && documentAST.definitions) || []).filter((d) => d.kind === 'OperationDefinition');
    const operation = params.operationName ? operations.find((d) => d.name && d.name.value === params.operationName) : operations[0];
    return !!operation && operation.operation === 'subscription';
  };
  const fetcher = async (params, options = {}) => {
    if (isSubscription(params, options.documentAST)) return socketFor(options.headers).iterate(params);
    const response = await fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json', ...options.headers },
      body: JSON.stringify(params),
    });
    return response.json();
  };
  self.MonacoEnvironment = { globalAPI: false, getWorkerUrl: (_moduleId, label) => '${ASSETS}/workers/' + label + '.js' };
  YogaGraphiQL.renderYogaGraphiQL(document.getElementById('root'), {
    fetcher,
    title: 'Tenantry',
    defaultQuery: ${JSON.stringify(DEFAULT_QUERY)},
  });
})();
`;
