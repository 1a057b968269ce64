import type { EntityManager } from '@mikro-orm/postgresql';

/** Starts a tenant's preparation. Implementations must enqueue inside `em`'s transaction. */
export interface Provisioner {
  enqueue(em: EntityManager, tenantId: string): Promise<void>;
}
