import { type Ref } from '@mikro-orm/core';
import { Entity, Index, ManyToOne, Property } from '@mikro-orm/decorators/legacy';
import { Order } from './Order.js';
import { Product } from './Product.js';
import { TenantScoped } from './TenantScoped.js';

/** `unitPriceCents` is copied from the product when the order is created. */
@Entity()
@Index({ properties: ['tenant', 'order'] })
@Index({ properties: ['tenant', 'product'] })
export class OrderLine extends TenantScoped {
  @ManyToOne(() => Order, {
    ref: true,
    joinColumns: ['tenant_id', 'order_id'],
    deleteRule: 'cascade',
    updateRule: 'no action',
  })
  order!: Ref<Order>;

  @ManyToOne(() => Product, {
    ref: true,
    joinColumns: ['tenant_id', 'product_id'],
    deleteRule: 'no action',
    updateRule: 'no action',
  })
  product!: Ref<Product>;

  @Property()
  quantity!: number;

  @Property()
  unitPriceCents!: number;
}
