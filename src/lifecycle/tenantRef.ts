import type { EntityManager } from '@mikro-orm/postgresql';
import type { Orm } from '../db/orm.js';
import type { TenantStatus } from '../entities/Tenant.js';
import { txQuery } from '../migrate/sql.js';
import { unknownTenant } from './errors.js';

export interface TenantRef {
  readonly id: string;
  readonly slug: string;
  readonly status: TenantStatus;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The tenant the command line names by id or slug, in any status: unlike a request's tenant
 * (src/context/resolveTenant.ts), one being erased is found too, so `delete-tenant` can be run again.
 * The tenant table is shared (no RLS): a plain read.
 */
export async function findTenantRef(orm: Orm, ref: string): Promise<TenantRef> {
  const em = orm.em.fork() as EntityManager;
  const rows = await em.transactional(async (tx) => {
    const byId = UUID.test(ref);
    return (await txQuery<TenantRef>(tx, `select id, slug, status from "tenant" where ${byId ? 'id = $1::uuid' : 'slug = $1'}`, [ref.toLowerCase()])).rows;
  });
  if (!rows[0]) throw unknownTenant(ref);
  return rows[0];
}
