import { Arg, Ctx, FieldResolver, Mutation, Query, Resolver, Root } from 'type-graphql';
import type { RequestContext } from '../../context/requestContext.js';
import { Domain } from '../../entities/Domain.js';
import { Tenant } from '../../entities/Tenant.js';
import { Role } from '../../entities/User.js';
import { AppError } from '../../errors.js';
import { requireRole, requireTenant } from '../guards.js';
import { mutate } from '../mutate.js';
import { DomainType, TenantType } from '../types.js';
import * as v from '../validation.js';

@Resolver(() => TenantType)
export class TenancyResolver {
  @Query(() => TenantType, { nullable: true, description: "The request's tenant, in any status." })
  currentTenant(@Ctx() ctx: RequestContext): Tenant | null {
    if (!ctx.principal) requireTenant(ctx); // raises UNAUTHENTICATED
    return ctx.tenant;
  }

  @FieldResolver(() => [DomainType])
  domains(@Root() tenant: Tenant, @Ctx() ctx: RequestContext): Promise<Domain[]> | Domain[] {
    // A session's tenant comes with its domains, read in the session's own scope (src/auth/sessions.ts);
    // report rows are plain objects without the collection.
    if (tenant.domains?.isInitialized()) return tenant.domains.getItems();
    return ctx.loaders.domains.load(tenant.id);
  }

  @Mutation(() => DomainType, { description: 'ADMIN: a hostname for the own tenant; a new primary replaces the old one.' })
  async addDomain(
    @Arg('hostname') hostnameInput: string,
    @Arg('isPrimary', () => Boolean, { nullable: true, defaultValue: false }) isPrimary: boolean | null,
    @Ctx() ctx: RequestContext,
  ): Promise<Domain> {
    const tenant = requireTenant(ctx);
    requireRole(ctx, Role.ADMIN);
    const hostname = v.hostname(hostnameInput);
    return mutate(
      ctx,
      async (em) => {
        if (await em.count(Domain, { hostname })) throw new AppError('CONFLICT', 'This hostname is taken', { field: 'hostname' });
        if (isPrimary) await em.nativeUpdate(Domain, { tenant: tenant.id, isPrimary: true }, { isPrimary: false });
        const domain = em.create(Domain, { tenant: tenant.id, hostname, isPrimary: isPrimary ?? false });
        await em.flush();
        return domain;
      },
      { unique: { domain_hostname_unique: { message: 'This hostname is taken', field: 'hostname' } } },
    );
  }
}
