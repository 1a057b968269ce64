import { type Opt, type Ref } from '@mikro-orm/core';
import { Entity, Filter, ManyToOne, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';
import { randomUUID } from 'node:crypto';
import { tenantFilter } from '../filters/tenantFilter.js';
import { Tenant } from './Tenant.js';

/**
 * A hostname of a tenant. Scoped like tenant-owned rows (tenant filter, write guard, RLS). Tenant
 * resolution, which runs before any tenant is known, does not read it through the ORM: it asks the
 * database's host lookup function, which sees verified, active domains only (src/context/resolveTenant.ts).
 *
 * Either the tenant's own `<slug>.<BASE_DOMAIN>` (created verified by preparation: its by construction)
 * or a custom domain, which starts as an unverified claim carrying a token and a deadline and is
 * verified by a DNS TXT record (src/domains). Only a verified, active domain routes requests. Indexes
 * (migrations): a verified hostname is unique across tenants, a hostname at most once per tenant, at
 * most one primary domain per tenant; checks keep a primary or active domain verified.
 */
@Entity()
@Filter(tenantFilter)
export class Domain {
  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  @ManyToOne(() => Tenant, { ref: true, deleteRule: 'cascade', updateRule: 'no action' })
  tenant!: Ref<Tenant>;

  @Property({ length: 253 })
  hostname!: string;

  @Property()
  isPrimary: boolean & Opt = false;

  /** Routes requests to the tenant. Set when the domain is verified. */
  @Property()
  isActive: boolean & Opt = false;

  @Property({ type: 'timestamptz', nullable: true })
  verifiedAt?: Date | null = null;

  /** The value the claim's TXT record must hold; cleared once verified. */
  @Property({ length: 64, nullable: true })
  verificationToken?: string | null = null;

  /** An unverified claim is refused by `verifyDomain` after this, and may be deleted. */
  @Property({ type: 'timestamptz', nullable: true })
  verificationExpiresAt?: Date | null = null;

  /** `addDomain(isPrimary: true)`: a domain becomes primary only once verified, then replacing the old one. */
  @Property()
  primaryOnVerification: boolean & Opt = false;

  @Property({ type: 'timestamptz' })
  createdAt: Date & Opt = new Date();
}
