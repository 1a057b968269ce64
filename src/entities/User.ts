import { type Opt, type Ref } from '@mikro-orm/core';
import { Entity, Enum, Filter, ManyToOne, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';
import { randomUUID } from 'node:crypto';
import { tenantFilter } from '../filters/tenantFilter.js';
import { Tenant } from './Tenant.js';

export enum Role {
  SUPERADMIN = 'SUPERADMIN',
  ADMIN = 'ADMIN',
  MEMBER = 'MEMBER',
}

/**
 * A person who logs in. A tenant's users are scoped like tenant-owned rows (tenant filter, write guard,
 * RLS): login looks a user up inside the tenant's scope. A superadmin has no tenant (a platform row),
 * reachable through the audited escape hatch only. Email is unique per tenant, case-insensitively
 * (expression index in the migration); it is stored lower-cased.
 */
@Entity()
@Filter(tenantFilter)
export class User {
  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  @ManyToOne(() => Tenant, { ref: true, nullable: true, deleteRule: 'cascade', updateRule: 'no action' })
  tenant?: Ref<Tenant> | null;

  @Property({ length: 320 })
  email!: string;

  @Enum({ items: () => Role, nativeEnumName: 'user_role' })
  role!: Role;

  @Property({ type: 'text', hidden: true })
  passwordHash!: string;

  /** A deactivated user cannot log in, refresh, or use an access token they still hold. */
  @Property()
  isActive: boolean & Opt = true;

  @Property({ type: 'timestamptz' })
  createdAt: Date & Opt = new Date();
}
