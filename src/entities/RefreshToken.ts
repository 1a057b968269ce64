import { type Opt, type Ref } from '@mikro-orm/core';
import { Entity, Filter, Index, ManyToOne, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';
import { randomUUID } from 'node:crypto';
import { tenantFilter } from '../filters/tenantFilter.js';
import { Tenant } from './Tenant.js';
import { User } from './User.js';

/**
 * One refresh token of a rotation family. Only its SHA-256 is stored. Each refresh spends the token
 * and issues the next one in the same family; presenting a spent token revokes the whole family.
 * Carries its user's tenant (null for a superadmin's), so it is scoped like the user.
 */
@Entity()
@Filter(tenantFilter)
@Index({ properties: ['familyId'] })
export class RefreshToken {
  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  @ManyToOne(() => Tenant, { ref: true, nullable: true, deleteRule: 'cascade', updateRule: 'no action' })
  tenant?: Ref<Tenant> | null;

  @ManyToOne(() => User, { ref: true, deleteRule: 'cascade', updateRule: 'no action' })
  user!: Ref<User>;

  @Property({ type: 'uuid' })
  familyId!: string;

  @Property({ length: 64, unique: true })
  tokenHash!: string;

  @Property({ type: 'timestamptz' })
  expiresAt!: Date;

  @Property({ type: 'timestamptz', nullable: true })
  spentAt?: Date | null;

  @Property({ type: 'timestamptz', nullable: true })
  revokedAt?: Date | null;

  @Property({ type: 'timestamptz' })
  createdAt: Date & Opt = new Date();
}
