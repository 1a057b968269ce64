import type { EntityManager } from '@mikro-orm/postgresql';

/** Starts a tenant's preparation. Implementations must enqueue inside `em`'s transaction. */
export interface Provisioner {
  /** False when the tenant already has a queued or active job (which will do the work). */
  enqueue(em: EntityManager, tenantId: string): Promise<boolean>;
}
