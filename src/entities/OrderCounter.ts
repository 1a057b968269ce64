import { type Opt } from '@mikro-orm/core';
import { Entity, Property, Unique } from '@mikro-orm/decorators/legacy';
import { TenantScoped } from './TenantScoped.js';

/**
 * The last order number handed out in a tenant. One row per tenant; taking a number is a single
 * `update … returning` inside the order's transaction, so concurrent orders serialize on this row and a
 * rolled-back order gives its number back (no gaps, no duplicates).
 */
@Entity()
@Unique({ properties: ['tenant'] })
export class OrderCounter extends TenantScoped {
  @Property()
  lastNumber: number & Opt = 0;
}
