import { Collection, type Opt } from '@mikro-orm/core';
import { Entity, Enum, OneToMany, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';
import { randomUUID } from 'node:crypto';
import { Domain } from './Domain.js';

export enum TenantStatus {
  PENDING = 'PENDING',
  PREPARING = 'PREPARING',
  READY = 'READY',
  FAILED = 'FAILED',
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

  @OneToMany(() => Domain, (d) => d.tenant)
  domains = new Collection<Domain>(this);

  @Property({ type: 'timestamptz' })
  createdAt: Date & Opt = new Date();
}
