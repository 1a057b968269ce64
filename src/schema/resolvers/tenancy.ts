import { Arg, Ctx, FieldResolver, ID, Mutation, Query, Resolver, Root } from 'type-graphql';
import type { RequestContext } from '../../context/requestContext.js';
import { isExpired, newClaim, verificationRecord, type VerificationRecord } from '../../domains/claims.js';
import type { ProofFailure } from '../../domains/dnsChallenge.js';
import { classifyHost, customHostname } from '../../domains/hostnames.js';
import { Domain } from '../../entities/Domain.js';
import { Tenant } from '../../entities/Tenant.js';
import { Role } from '../../entities/User.js';
import { AppError, badInput, conflict, notFound } from '../../errors.js';
import { requireRole, requireTenant } from '../guards.js';
import { mutate } from '../mutate.js';
import { DomainType, DomainVerificationRecordType, TenantType } from '../types.js';
import * as v from '../validation.js';

const HOSTNAME_HELD = 'This tenant already has this hostname';

const PROOF_FAILURES: Record<ProofFailure, string> = {
  RECORD_NOT_FOUND: 'No TXT record at the name of the verification record',
  RECORD_MISMATCH: 'No TXT record there holds the token of this domain',
  DNS_UNAVAILABLE: 'DNS did not answer: try again later',
};

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

  @Mutation(() => DomainType, {
    description:
      'ADMIN: claims a custom hostname for the own tenant, unverified: publish its verificationRecord, then call verifyDomain. ' +
      'A claim routes nothing, blocks no one and expires after 7 days. isPrimary: it becomes the primary domain once verified.',
  })
  async addDomain(
    @Arg('hostname') hostnameInput: string,
    @Arg('isPrimary', () => Boolean, { nullable: true, defaultValue: false }) isPrimary: boolean | null,
    @Ctx() ctx: RequestContext,
  ): Promise<Domain> {
    const tenant = requireTenant(ctx);
    requireRole(ctx, Role.ADMIN);
    const hostname = customHostname(hostnameInput, ctx.services.config.baseDomain);
    return mutate(
      ctx,
      async (em) => {
        // Only the tenant's own rows are read or written: whether another tenant claimed or verified
        // this name changes neither the answer nor the work done for it.
        const now = new Date();
        await em.nativeDelete(Domain, { tenant: tenant.id, verifiedAt: null, verificationExpiresAt: { $lte: now } });
        if (await em.count(Domain, { tenant: tenant.id, hostname })) throw conflict(HOSTNAME_HELD, 'hostname');
        const domain = em.create(Domain, { tenant: tenant.id, hostname, primaryOnVerification: isPrimary ?? false, ...newClaim(now) });
        await em.flush();
        return domain;
      },
      { unique: { domain_tenant_id_hostname_unique: { message: HOSTNAME_HELD, field: 'hostname' } } },
    );
  }

  @Mutation(() => DomainType, {
    description:
      "ADMIN: looks up the domain's TXT record and, when it holds the token, makes the domain verified and active " +
      '(and primary, if so asked). DOMAIN_NOT_VERIFIED when it does not; CONFLICT when another tenant verified the hostname first.',
  })
  async verifyDomain(@Arg('id', () => ID) idInput: string, @Ctx() ctx: RequestContext): Promise<Domain> {
    const tenant = requireTenant(ctx);
    requireRole(ctx, Role.ADMIN);
    const id = v.id(idInput);
    const { baseDomain } = ctx.services.config;
    return mutate(
      ctx,
      async (em) => {
        const domain = await em.findOne(Domain, { id, tenant: tenant.id });
        if (!domain) throw notFound('Domain');
        if (domain.verifiedAt) return domain;
        if (classifyHost(domain.hostname, baseDomain).kind !== 'custom') {
          throw badInput(`${domain.hostname} is not a custom domain and can never be verified`, 'id');
        }
        if (isExpired(domain)) {
          throw new AppError('DOMAIN_CLAIM_EXPIRED', 'This claim expired unverified: add the domain again for a new token');
        }
        // The proof comes first: only someone who controls the name's DNS gets past it to learn,
        // through the unique index on verified hostnames, that another tenant verified it already.
        const failure = await ctx.services.dns.check(domain.hostname, domain.verificationToken!);
        if (failure) throw new AppError('DOMAIN_NOT_VERIFIED', PROOF_FAILURES[failure], { reason: failure });
        if (domain.primaryOnVerification) await em.nativeUpdate(Domain, { tenant: tenant.id, isPrimary: true }, { isPrimary: false });
        Object.assign(domain, {
          verifiedAt: new Date(),
          isActive: true,
          isPrimary: domain.primaryOnVerification,
          primaryOnVerification: false,
          verificationToken: null,
          verificationExpiresAt: null,
        });
        await em.flush();
        return domain;
      },
      { unique: { domain_verified_hostname_unique: { message: 'Another tenant has verified this hostname' } } },
    );
  }
}

@Resolver(() => DomainType)
export class DomainResolver {
  @FieldResolver(() => Boolean)
  verified(@Root() domain: Domain): boolean {
    return !!domain.verifiedAt;
  }

  @FieldResolver(() => DomainVerificationRecordType, { nullable: true })
  verificationRecord(@Root() domain: Domain): VerificationRecord | null {
    return verificationRecord(domain);
  }
}
