import { type Opt } from '@mikro-orm/core';
import { Entity, Filter, Index, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';
import { randomUUID } from 'node:crypto';
import { tenantFilterOn } from '../filters/tenantFilter.js';

/**
 * Append-only record of privileged acts: superadmin work inside a tenant, cross-tenant reads,
 * sign-ups, activation changes, preparation retries, role and account changes. Plain ids (no FKs) so
 * events outlive what they name. A tenant's events are scoped like its rows; platform events (tenant
 * null) are written and read through the escape hatch only.
 */
@Entity()
@Filter(tenantFilterOn('tenantId'))
@Index({ properties: ['at'] })
@Index({ properties: ['tenantId', 'at'] })
export class AuditEvent {
  @PrimaryKey({ type: 'uuid' })
  id: string = randomUUID();

  @Property({ length: 100 })
  action!: string;

  @Property({ type: 'uuid', nullable: true })
  actorId?: string | null;

  @Property({ type: 'uuid', nullable: true })
  tenantId?: string | null;

  @Property({ type: 'text', nullable: true })
  target?: string | null;

  @Property({ type: 'timestamptz' })
  at: Date & Opt = new Date();
}
