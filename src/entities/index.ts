import { AuditEvent } from './AuditEvent.js';
import { Customer } from './Customer.js';
import { Domain } from './Domain.js';
import { Order } from './Order.js';
import { OrderCounter } from './OrderCounter.js';
import { OrderLine } from './OrderLine.js';
import { Product } from './Product.js';
import { RefreshToken } from './RefreshToken.js';
import { Tenant } from './Tenant.js';
import { TenantScoped } from './TenantScoped.js';
import { User } from './User.js';

export { AuditEvent, Customer, Domain, Order, OrderCounter, OrderLine, Product, RefreshToken, Tenant, TenantScoped, User };
export { TenantStatus } from './Tenant.js';
export { Role } from './User.js';
export { OrderStatus } from './Order.js';

/**
 * Tables shared by all tenants (Citus reference tables): no tenant column, no tenant filter, no RLS.
 * Every other entity extends `TenantScoped` or is tenant-tagged; tests/entities/model.test.ts fails
 * when one is neither.
 */
export const SHARED_ENTITIES = [Tenant] as const;

/**
 * Entities whose rows carry a tenant (null for platform rows: superadmins, their refresh tokens,
 * platform audit events) but whose primary key is `id` alone: the tenant filter, the write guard and
 * RLS (TENANT_TAGGED_TABLES) scope them like tenant-owned rows.
 */
export const TENANT_TAGGED_ENTITIES = [Domain, User, RefreshToken, AuditEvent] as const;

/** Tenant-owned entities, parents before children (the order rows can be copied in). */
export const TENANT_ENTITIES = [Product, Customer, Order, OrderLine, OrderCounter] as const;

export const ENTITIES = [TenantScoped, ...SHARED_ENTITIES, ...TENANT_TAGGED_ENTITIES, ...TENANT_ENTITIES];
