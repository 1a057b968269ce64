import { ApolloServer, type ApolloServerPlugin, HeaderMap } from '@apollo/server';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import type { Request, Response } from 'express';
import type { GraphQLSchema } from 'graphql';
import { identify, type RequestContext, runUnitOfWork, type Services } from '../context/requestContext.js';
import { statusForCode } from '../errors.js';
import { guardOperation, rootFieldNames } from '../schema/guards.js';
import { enforceLimits } from '../schema/limits.js';
import { formatError } from './errors.js';
import type { Metrics } from './metrics.js';

/**
 * Apollo Server for POST/GET /graphql. Each request is identified (token, tenant) first, then Apollo
 * runs inside that request's unit of work (`runUnitOfWork`): one transaction, the tenant filter and
 * RLS setting bound, fresh DataLoaders.
 */
export async function createGraphqlHttp(schema: GraphQLSchema, services: Services, metrics: Metrics) {
  const { production } = services.config;
  const apollo = new ApolloServer<RequestContext>({
    schema,
    introspection: !production,
    hideSchemaDetailsFromClientErrors: production,
    includeStacktraceInErrorResponses: false,
    formatError: (formatted, error) => formatError(formatted, error, services.log, production),
    plugins: [ApolloServerPluginLandingPageDisabled(), operationPlugin(schema, metrics)],
  });
  await apollo.start();

  const handler = async (req: Request, res: Response) => {
    try {
      const identity = await identify(services, {
        authorization: req.headers.authorization,
        hints: { header: headerValue(req.headers['x-tenant-id']), host: req.headers.host },
      });
      const response = await runUnitOfWork(services, identity, (ctx) =>
        apollo.executeHTTPGraphQLRequest({ httpGraphQLRequest: toApolloRequest(req), context: async () => ctx }),
      );
      for (const [key, value] of response.headers) res.setHeader(key, value);
      res.status(response.status ?? 200);
      if (response.body.kind === 'complete') {
        res.send(response.body.string);
      } else {
        for await (const chunk of response.body.asyncIterator) res.write(chunk);
        res.end();
      }
    } catch (err) {
      services.log.error({ err }, 'graphql request failed');
      if (!res.headersSent) res.status(500).json({ errors: [{ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } }] });
      else res.end();
    }
  };
  return { apollo, handler };
}

/**
 * The contract's status rule: a request that got no data back (data null or absent, or every root
 * field null because it failed) takes the status of its first error; any data at all means 200.
 */
function hasAnyData(data: Record<string, unknown> | null | undefined): boolean {
  return !!data && Object.values(data).some((v) => v !== null && v !== undefined);
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function toApolloRequest(req: Request) {
  const headers = new HeaderMap();
  for (const [key, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
  }
  return { method: req.method.toUpperCase(), headers, search: new URL(req.url, 'http://localhost').search ?? '', body: req.body };
}

/**
 * Per operation, after parsing and validation: depth/complexity limits with the real variables, the
 * request-level auth and tenant checks, then the contract's HTTP status for failed requests and metrics.
 */
function operationPlugin(schema: GraphQLSchema, metrics: Metrics): ApolloServerPlugin<RequestContext> {
  return {
    async requestDidStart() {
      const started = process.hrtime.bigint();
      return {
        async didResolveOperation({ contextValue, operation, document, request }) {
          if (!operation) return; // Apollo itself answers "operation not found"
          enforceLimits(schema, document, operation, request.variables);
          await guardOperation(contextValue, rootFieldNames(document, operation), request.operationName ?? operation.name?.value);
        },
        async willSendResponse({ response, errors, operation, request, contextValue }) {
          const body = response.body.kind === 'single' ? response.body.singleResult : undefined;
          const firstCode = (body?.errors?.[0]?.extensions?.code ?? errors?.[0]?.extensions?.code) as string | undefined;
          if (body?.errors?.length && !hasAnyData(body.data)) response.http.status = statusForCode(firstCode);
          const seconds = Number(process.hrtime.bigint() - started) / 1e9;
          const labels = { operation: request.operationName ?? operation?.name?.value, type: operation?.operation, outcome: firstCode ?? 'ok', transport: 'http' as const };
          metrics.observe(labels, seconds);
          contextValue.log.info({ ...labels, status: response.http.status ?? 200, durationMs: Math.round(seconds * 1000) }, 'graphql operation');
        },
      };
    },
  };
}
