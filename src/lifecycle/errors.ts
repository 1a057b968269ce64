import type { ErrorCode } from '../errors.js';

/**
 * Refusals of the lifecycle operations, with the CLI exit code (docs/lifecycle.md) and the API error
 * code each maps to.
 */
export class LifecycleError extends Error {
  constructor(
    message: string,
    /** 2: bad usage (unknown tenant, wrong confirmation); 3: a conflict with the database's state (a slug or id taken). */
    readonly exitCode: 1 | 2 | 3,
    readonly apiCode: ErrorCode = exitCode === 3 ? 'CONFLICT' : exitCode === 2 ? 'BAD_USER_INPUT' : 'CONFLICT',
    /** The GraphQL argument at fault, if one is. */
    readonly field?: string,
  ) {
    super(message);
    this.name = 'LifecycleError';
  }
}

export const unknownTenant = (ref: string) => new LifecycleError(`No tenant "${ref}"`, 2, 'NOT_FOUND');
export const tenantGone = (slug: string, status: string) => new LifecycleError(`Tenant ${slug} is ${status}: it is being or has been erased`, 1, 'CONFLICT');
