import { GraphQLError } from 'graphql';

/** Every `extensions.code` a client can branch on (api-contract.md, Errors), with its HTTP status. */
export const ERROR_STATUS = {
  UNAUTHENTICATED: 401,
  TOKEN_EXPIRED: 401,
  FORBIDDEN: 403,
  TENANT_MISMATCH: 403,
  TENANT_REQUIRED: 400,
  TENANT_NOT_FOUND: 404,
  TENANT_INACTIVE: 403,
  TENANT_NOT_READY: 409,
  BAD_USER_INPUT: 400,
  NOT_FOUND: 404,
  CONFLICT: 409,
  DOMAIN_NOT_VERIFIED: 422,
  DOMAIN_CLAIM_EXPIRED: 410,
  RATE_LIMITED: 429,
  /** WebSocket only: a connection's subscriptions are capped (src/server/graphqlWs.ts). */
  TOO_MANY_SUBSCRIPTIONS: 429,
  SERVICE_UNAVAILABLE: 503,
  GRAPHQL_PARSE_FAILED: 400,
  GRAPHQL_VALIDATION_FAILED: 400,
  QUERY_TOO_COMPLEX: 400,
  BAD_REQUEST: 400,
  /**
   * An automatic persisted query's hash the server does not know: the client sends the query again with
   * it. 200, as Apollo Server answers: Apollo Client 3's link takes a 400 or 500 for "this server has
   * no persisted queries" and stops sending hashes for good.
   */
  PERSISTED_QUERY_NOT_FOUND: 200,
  INTERNAL_SERVER_ERROR: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

/** An error meant for the client: its message is safe to show and its code is in the contract. */
export class AppError extends GraphQLError {
  constructor(
    readonly code: ErrorCode,
    message: string,
    extra: Record<string, unknown> = {},
  ) {
    super(message, { extensions: { code, ...extra } });
    this.name = 'AppError';
  }
}

export const unauthenticated = (message = 'Authentication required') => new AppError('UNAUTHENTICATED', message);
export const tokenExpired = () =>
  new AppError('TOKEN_EXPIRED', 'The access token has expired', { action: 'REFRESH_TOKEN' });
export const forbidden = (message = 'Not allowed') => new AppError('FORBIDDEN', message);
export const notFound = (what: string) => new AppError('NOT_FOUND', `${what} not found`);
export const conflict = (message: string, field?: string) => new AppError('CONFLICT', message, field ? { field } : {});
export const badInput = (message: string, field?: string) =>
  new AppError('BAD_USER_INPUT', message, field ? { field } : {});

/** Retryable refusals carry `retryAfter` (seconds), also sent as the Retry-After header over HTTP. */
export const rateLimited = (message: string, retryAfter: number) => new AppError('RATE_LIMITED', message, { retryAfter });
export const serviceUnavailable = (message: string, retryAfter: number) => new AppError('SERVICE_UNAVAILABLE', message, { retryAfter });

export function statusForCode(code: unknown): number {
  return (typeof code === 'string' && ERROR_STATUS[code as ErrorCode]) || 500;
}

/**
 * The contract's status rule: a request that got no data back (data null or absent, or every root
 * field null because it failed) takes the status of its first error; any data at all means 200.
 */
export function hasAnyData(data: Record<string, unknown> | null | undefined): boolean {
  return !!data && Object.values(data).some((v) => v !== null && v !== undefined);
}
