import { type Opt, type Ref } from '@mikro-orm/core';
import { Entity, Enum, ManyToOne, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';
import { randomUUID } from 'node:crypto';
import { Tenant } from './Tenant.js';

export enum Role {
  SUPERADMIN = 'SUPERADMIN',
  ADMIN = 'ADMIN',
  MEMBER = 'MEMBER',
}

/**
 * A person who logs in. Shared table: a superadmin has no tenant, and login looks users up before a
 * request is bound to a tenant. Email is unique per tenant, case-insensitively (expression index in
 * the migration); it is stored lower-cased.
 */
@Entity()
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

  @Property({ type: 'timestamptz' })
  createdAt: Date & Opt = new Date();
}
