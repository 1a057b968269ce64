import { unwrapResolverError } from '@apollo/server/errors';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import type { Logger } from 'pino';
import { AppError } from '../errors.js';

/** Codes graphql-js / Apollo give to errors about the request itself: safe to show. */
const REQUEST_ERROR_CODES: Record<string, string> = {
  GRAPHQL_PARSE_FAILED: 'GRAPHQL_PARSE_FAILED',
  GRAPHQL_VALIDATION_FAILED: 'GRAPHQL_VALIDATION_FAILED',
  BAD_USER_INPUT: 'BAD_USER_INPUT',
  BAD_REQUEST: 'BAD_REQUEST',
  OPERATION_RESOLUTION_FAILURE: 'BAD_REQUEST',
  PERSISTED_QUERY_NOT_FOUND: 'PERSISTED_QUERY_NOT_FOUND',
};

/**
 * Apollo refuses some requests with a GraphQLError that has a 4xx HTTP status but no code: a persisted
 * query whose hash does not match its query, an unknown persisted-query version. The request is at
 * fault, not the server.
 */
function refusedByApollo(error: unknown): boolean {
  if (!(error instanceof GraphQLError) || error.extensions.code !== undefined) return false;
  const status = (error.extensions.http as { status?: unknown } | undefined)?.status;
  return typeof status === 'number' && status >= 400 && status < 500;
}

/**
 * What a client sees of an error, on every transport: our own errors and the framework's request
 * errors as they are (minus stack traces); anything else (SQL, ORM, bugs) becomes a bare
 * INTERNAL_SERVER_ERROR and is logged. In production, "Did you mean …?" suggestions are removed.
 */
export function formatError(formatted: GraphQLFormattedError, error: unknown, log: Logger, production: boolean): GraphQLFormattedError {
  const original = unwrapResolverError(error);
  const frameworkCode = REQUEST_ERROR_CODES[formatted.extensions?.code as string] ?? (refusedByApollo(original) ? 'BAD_REQUEST' : undefined);
  const isOurs = original instanceof AppError;
  const isRequestError = frameworkCode !== undefined && original instanceof GraphQLError;
  if (!isOurs && !isRequestError) {
    log.error({ err: original }, 'internal error');
    return { message: 'Internal server error', locations: formatted.locations, path: formatted.path, extensions: { code: 'INTERNAL_SERVER_ERROR' } };
  }
  const { stacktrace: _stacktrace, ...extensions } = formatted.extensions ?? {};
  return {
    ...formatted,
    message: production ? formatted.message.replace(/ ?Did you mean .+\?$/, '') : formatted.message,
    extensions: { ...extensions, code: isOurs ? original.code : frameworkCode },
  };
}
