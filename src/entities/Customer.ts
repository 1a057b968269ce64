import { Collection, type Opt } from '@mikro-orm/core';
import { Entity, Index, OneToMany, Property } from '@mikro-orm/decorators/legacy';
import { Order } from './Order.js';
import { TenantScoped } from './TenantScoped.js';

@Entity()
@Index({ properties: ['tenant', 'name', 'id'] })
export class Customer extends TenantScoped {
  @Property({ length: 200 })
  name!: string;

  @Property({ length: 320, nullable: true })
  email?: string | null;

  @OneToMany(() => Order, (o) => o.customer)
  orders = new Collection<Order>(this);

  @Property({ type: 'timestamptz' })
  createdAt: Date & Opt = new Date();
}
