/** Refusals of the lifecycle commands, each with the CLI exit code it maps to (docs/lifecycle.md). */
export class LifecycleError extends Error {
  constructor(
    message: string,
    /** 2: bad usage (unknown tenant, wrong confirmation); 3: a conflict with the database's state (a slug or id taken). */
    readonly exitCode: 1 | 2 | 3,
  ) {
    super(message);
    this.name = 'LifecycleError';
  }
}

export const unknownTenant = (ref: string) => new LifecycleError(`No tenant "${ref}"`, 2);
export const tenantGone = (slug: string, status: string) => new LifecycleError(`Tenant ${slug} is ${status}: it is being or has been erased`, 1);
