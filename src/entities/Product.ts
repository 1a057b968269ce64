import { type Opt } from '@mikro-orm/core';
import { Entity, Property, Unique } from '@mikro-orm/decorators/legacy';
import { TenantScoped } from './TenantScoped.js';

@Entity()
@Unique({ properties: ['tenant', 'sku'] })
export class Product extends TenantScoped {
  @Property({ length: 64 })
  sku!: string;

  @Property({ length: 200 })
  name!: string;

  @Property()
  priceCents!: number;

  @Property({ type: 'timestamptz' })
  createdAt: Date & Opt = new Date();

  @Property({ type: 'timestamptz', onUpdate: () => new Date() })
  updatedAt: Date & Opt = new Date();
}
