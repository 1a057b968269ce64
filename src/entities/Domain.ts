import { type Opt, type Ref } from '@mikro-orm/core';
import { Entity, Filter, ManyToOne, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';
import { randomUUID } from 'node:crypto';
import { tenantFilter } from '../filters/tenantFilter.js';
import { Tenant } from './Tenant.js';

/**
 * A hostname that resolves to a tenant. Scoped like tenant-owned rows (tenant filter, write guard, RLS).
 * Tenant resolution, which runs before any tenant is known, does not read it through the ORM: it asks
 * the database's host lookup function (src/context/resolveTenant.ts). At most one primary domain per
 * tenant (partial unique index in the migration).
 */
@Entity()
@Filter(tenantFilter)
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
