import { type Opt, type Ref } from '@mikro-orm/core';
import { Entity, ManyToOne, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';
import { randomUUID } from 'node:crypto';
import { Tenant } from './Tenant.js';

/**
 * A hostname that resolves to a tenant. Shared table: tenant resolution reads it before any tenant is
 * known. At most one primary domain per tenant (partial unique index in the migration).
 */
@Entity()
export class Domain {
  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  @ManyToOne(() => Tenant, { ref: true, deleteRule: 'cascade', updateRule: 'no action' })
  tenant!: Ref<Tenant>;

  @Property({ length: 253, unique: true })
  hostname!: string;

  @Property()
  isPrimary: boolean & Opt = false;

  @Property()
  isActive: boolean & Opt = true;

  @Property({ type: 'timestamptz' })
  createdAt: Date & Opt = new Date();
}
