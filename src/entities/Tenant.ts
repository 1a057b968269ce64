import { Collection, type Opt } from '@mikro-orm/core';
import { Entity, Enum, OneToMany, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';
import { randomUUID } from 'node:crypto';
import { Domain } from './Domain.js';

export enum TenantStatus {
  PENDING = 'PENDING',
  PREPARING = 'PREPARING',
  READY = 'READY',
  FAILED = 'FAILED',
  /** Being erased (src/lifecycle/erase.ts): refused everywhere like a tenant that does not exist. */
  DELETING = 'DELETING',
  /** Erased: the row stays as a tombstone (`deletion`), nothing else of the tenant is left. */
  DELETED = 'DELETED',
}

/** A tenant being or having been erased: it no longer exists for anyone but superadmins. */
export const isGone = (status: TenantStatus): boolean => status === TenantStatus.DELETING || status === TenantStatus.DELETED;

/** The tombstone of an erased tenant, kept in `tenant.deletion`. */
export interface TenantDeletion {
  /** The slug when the deletion was asked for (the row's own slug is given up if an import takes it back). */
  readonly slug: string;
  readonly requestedAt: string;
  readonly requestedBy: string | null;
  readonly finishedAt?: string | null;
  /** Rows deleted so far, per table: committed with each batch, final once DELETED. */
  readonly rows: Record<string, number>;
}

/** A customer of the platform. Shared table (a Citus reference table). */
@Entity()
export class Tenant {
  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  @Property({ length: 200 })
  name!: string;

  @Property({ length: 40, unique: true })
  slug!: string;

  @Property()
  isActive: boolean & Opt = true;

  @Enum({ items: () => TenantStatus, nativeEnumName: 'tenant_status' })
  status: TenantStatus & Opt = TenantStatus.PENDING;

  @Property({ type: 'text', nullable: true })
  statusError?: string | null;

  @Property({ type: 'timestamptz', nullable: true })
  preparationStartedAt?: Date | null;

  @Property({ type: 'timestamptz', nullable: true })
  preparationCompletedAt?: Date | null;

  @Property({ type: 'json', nullable: true })
  deletion?: TenantDeletion | null;

  @OneToMany(() => Domain, (d) => d.tenant)
  domains = new Collection<Domain>(this);

  @Property({ type: 'timestamptz' })
  createdAt: Date & Opt = new Date();
}
