import { HeaderMap, type HTTPGraphQLRequest } from '@apollo/server';
import type { Request, Response } from 'express';
import { identify, type Services } from '../context/requestContext.js';
import { failureResponse } from './errors.js';
import type { OperationPipeline } from './pipeline.js';
import { requestIdOf } from './requestId.js';

/**
 * GraphQL over HTTP (POST and GET /graphql): identify the caller (token, tenant), then hand the request
 * to the operation pipeline (src/server/pipeline.ts), which Apollo runs.
 */
export function graphqlHttpHandler(pipeline: OperationPipeline, services: Services) {
  return async (req: Request, res: Response) => {
    try {
      const identity = await identify(services, {
        requestId: requestIdOf(res),
        authorization: req.headers.authorization,
        hints: { header: headerValue(req.headers['x-tenant-id']), host: req.headers.host },
        // Express decides it by the app's `trust proxy` (TRUST_PROXY): the socket's address unless a trusted proxy forwarded it.
        address: req.ip ?? 'unknown',
      });
      const response = await pipeline.http(toApolloRequest(req), identity);
      for (const [key, value] of response.headers) res.setHeader(key, value);
      res.status(response.status ?? 200);
      if (response.body.kind === 'complete') {
        // A POST's answer is never reused by a cache nor revalidated (express answers 304 to GET and
        // HEAD only), so it gets no ETag, which res.send computes by hashing the whole answer. A GET
        // keeps its ETag: a client may revalidate a query with If-None-Match.
        if (req.method === 'POST' && res.getHeader('content-type')) res.end(response.body.string);
        else res.send(response.body.string);
      } else {
        for await (const chunk of response.body.asyncIterator) res.write(chunk);
        res.end();
      }
    } catch (err) {
      // Cut off by a shutdown's deadline (src/server/httpDrain.ts), it finds Apollo stopped: nobody is
      // left to answer, and nothing failed that a person must look at.
      if (res.destroyed) return void services.log.warn({ reason: err instanceof Error ? err.message : String(err) }, 'graphql request abandoned: its connection was closed');
      if (res.headersSent) return void res.end();
      const { status, retryAfter, error } = failureResponse(err, services.log, services.config.production);
      if (retryAfter !== undefined) res.setHeader('Retry-After', String(retryAfter));
      res.status(status).json({ errors: [error] });
    }
  };
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function toApolloRequest(req: Request): HTTPGraphQLRequest {
  const headers = new HeaderMap();
  for (const [key, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
  }
  return { method: req.method.toUpperCase(), headers, search: new URL(req.url, 'http://localhost').search ?? '', body: req.body };
}
