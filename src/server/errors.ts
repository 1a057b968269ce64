import { unwrapResolverError } from '@apollo/server/errors';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import type { Logger } from 'pino';
import { databaseFailure, type DatabaseFailure } from '../db/failures.js';
import { AppError, statusForCode } from '../errors.js';

/** Codes graphql-js / Apollo give to errors about the request itself: safe to show. */
const REQUEST_ERROR_CODES: Record<string, string> = {
  GRAPHQL_PARSE_FAILED: 'GRAPHQL_PARSE_FAILED',
  GRAPHQL_VALIDATION_FAILED: 'GRAPHQL_VALIDATION_FAILED',
  BAD_USER_INPUT: 'BAD_USER_INPUT',
  BAD_REQUEST: 'BAD_REQUEST',
  OPERATION_RESOLUTION_FAILURE: 'BAD_REQUEST',
  PERSISTED_QUERY_NOT_FOUND: 'PERSISTED_QUERY_NOT_FOUND',
};

/** What a client is told when the database is down or too slow: retry, after this many seconds. */
const DATABASE_FAILURES: Record<DatabaseFailure, { message: string; retryAfter: number }> = {
  unavailable: { message: 'The database is unavailable; retry later', retryAfter: 5 },
  timeout: { message: 'The database did not answer in time; retry shortly', retryAfter: 1 },
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
 * errors as they are (minus stack traces); the database being unreachable or too slow as
 * SERVICE_UNAVAILABLE with `retryAfter`; anything else (SQL, ORM, bugs) becomes a bare
 * INTERNAL_SERVER_ERROR and is logged. In production, "Did you mean …?" suggestions are removed.
 */
export function formatError(formatted: GraphQLFormattedError, error: unknown, log: Logger, production: boolean): GraphQLFormattedError {
  const original = unwrapResolverError(error);
  const frameworkCode = REQUEST_ERROR_CODES[formatted.extensions?.code as string] ?? (refusedByApollo(original) ? 'BAD_REQUEST' : undefined);
  const isOurs = original instanceof AppError;
  const isRequestError = frameworkCode !== undefined && original instanceof GraphQLError;
  // Errors thrown outside resolvers arrive wrapped in a GraphQLError of ours (see `failureResponse`).
  const cause = original instanceof GraphQLError ? (original.originalError ?? original) : original;
  const failure = isOurs || isRequestError ? null : databaseFailure(cause);
  if (failure) {
    log.warn({ err: cause }, 'database failure');
    const { message, retryAfter } = DATABASE_FAILURES[failure];
    return { message, locations: formatted.locations, path: formatted.path, extensions: { code: 'SERVICE_UNAVAILABLE', retryAfter } };
  }
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

/**
 * An error thrown outside the operation pipeline (identifying the caller reads the tenant before it),
 * masked like any other, with the contract's status and Retry-After.
 */
export function failureResponse(err: unknown, log: Logger, production: boolean): { status: number; retryAfter?: number; error: GraphQLFormattedError } {
  const wrapped = err instanceof GraphQLError ? err : new GraphQLError('Internal server error', { originalError: err as Error });
  const error = formatError(wrapped.toJSON(), wrapped, log, production);
  const retryAfter = error.extensions?.retryAfter;
  return { status: statusForCode(error.extensions?.code), retryAfter: typeof retryAfter === 'number' ? retryAfter : undefined, error };
}
