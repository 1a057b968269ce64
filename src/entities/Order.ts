import { Collection, type Opt, type Ref } from '@mikro-orm/core';
import { Entity, Enum, Index, ManyToOne, OneToMany, Property, Unique } from '@mikro-orm/decorators/legacy';
import { Customer } from './Customer.js';
import { OrderLine } from './OrderLine.js';
import { TenantScoped } from './TenantScoped.js';

export enum OrderStatus {
  OPEN = 'OPEN',
  PAID = 'PAID',
  CANCELLED = 'CANCELLED',
}

/** `number` is 1, 2, 3 … per tenant, taken from `OrderCounter`, never reused. */
@Entity()
@Unique({ properties: ['tenant', 'number'] })
@Index({ properties: ['tenant', 'status', 'number'] })
@Index({ properties: ['tenant', 'customer', 'number'] })
@Index({ properties: ['tenant', 'createdAt'] })
export class Order extends TenantScoped {
  @Property()
  number!: number;

  @Enum({ items: () => OrderStatus, nativeEnumName: 'order_status' })
  status: OrderStatus & Opt = OrderStatus.OPEN;

  @ManyToOne(() => Customer, {
    ref: true,
    joinColumns: ['tenant_id', 'customer_id'],
    deleteRule: 'no action',
    updateRule: 'no action',
  })
  customer!: Ref<Customer>;

  @OneToMany(() => OrderLine, (l) => l.order)
  lines = new Collection<OrderLine>(this);

  @Property()
  totalCents!: number;

  @Property({ type: 'timestamptz' })
  createdAt: Date & Opt = new Date();
}
