import { Arg, Ctx, FieldResolver, Mutation, Query, Resolver, Root } from 'type-graphql';
import { assertTenantActive, endSession, issueSession, rotateSession, type Session } from '../../auth/sessions.js';
import type { RequestContext } from '../../context/requestContext.js';
import { findTenantByIdOrSlug, tenantNamedBy } from '../../context/resolveTenant.js';
import { AuditEvent } from '../../entities/AuditEvent.js';
import { Tenant } from '../../entities/Tenant.js';
import { Role, User } from '../../entities/User.js';
import { AppError, badInput, unauthenticated } from '../../errors.js';
import { publishStatus } from '../../jobs/prepareTenant.js';
import { requireTenantData } from '../guards.js';
import { mutate } from '../mutate.js';
import { AuthPayloadType, CreateUserInput, LoginInput, SignUpInput, TenantType, UserType } from '../types.js';
import * as v from '../validation.js';

const EMAIL_TAKEN = { user_tenant_email_unique: { message: 'A user with this email already exists in this tenant', field: 'email' } };

@Resolver(() => UserType)
export class AuthResolver {
  @Query(() => UserType, { nullable: true, description: 'The caller, in any tenant status; null without a token.' })
  async me(@Ctx() ctx: RequestContext): Promise<User | null> {
    if (!ctx.principal) return null;
    return ctx.em.findOne(User, ctx.principal.userId);
  }

  @Query(() => [UserType], { description: "The tenant's users (ADMIN)." })
  async users(@Ctx() ctx: RequestContext): Promise<User[]> {
    const tenant = requireTenantData(ctx, Role.ADMIN);
    return ctx.em.find(User, { tenant: tenant.id }, { orderBy: { email: 'asc' } });
  }

  @FieldResolver(() => TenantType, { nullable: true })
  tenant(@Root() user: User, @Ctx() ctx: RequestContext): Promise<Tenant | null> | null {
    return user.tenant ? ctx.loaders.tenant.load(user.tenant.id) : null;
  }

  @Mutation(() => AuthPayloadType, { description: 'A new tenant (PENDING) and its first ADMIN; preparation continues in the background.' })
  async signUp(@Arg('input', () => SignUpInput) input: SignUpInput, @Ctx() ctx: RequestContext): Promise<Session> {
    const tenantName = v.name(input.tenantName, 'tenantName');
    const slug = v.slug(input.slug.trim().toLowerCase());
    const email = v.email(input.email);
    const passwordHash = await ctx.services.passwords.hash(v.password(input.password));
    return mutate(
      ctx,
      async (em) => {
        if (await em.count(Tenant, { slug })) throw new AppError('CONFLICT', 'This slug is taken', { field: 'slug' });
        const tenant = em.create(Tenant, { name: tenantName, slug });
        const user = em.create(User, { tenant, email, role: Role.ADMIN, passwordHash });
        em.create(AuditEvent, { action: 'tenant.signUp', actorId: user.id, tenantId: tenant.id, target: slug });
        await em.flush();
        await ctx.services.provisioner.enqueue(em, tenant.id);
        await publishStatus(em, tenant); // superadmins' all-tenants streams hear of the new tenant
        return issueSession(em, ctx.services.tokens, user);
      },
      { unique: { tenant_slug_unique: { message: 'This slug is taken', field: 'slug' } } },
    );
  }

  @Mutation(() => AuthPayloadType)
  async login(@Arg('input', () => LoginInput) input: LoginInput, @Ctx() ctx: RequestContext): Promise<Session> {
    const email = input.email.trim().toLowerCase();
    const tenant = await this.loginTenant(input, ctx);
    const user = await ctx.em.findOne(User, tenant ? { tenant: tenant.id, email } : { tenant: null, email, role: Role.SUPERADMIN });
    if (!(await ctx.services.passwords.verify(user?.passwordHash, input.password)) || !user) {
      throw unauthenticated('Invalid email or password');
    }
    await assertTenantActive(ctx.em, user);
    return mutate(ctx, (em) => issueSession(em, ctx.services.tokens, user));
  }

  @Mutation(() => AuthPayloadType, { description: 'Spends the refresh token and returns a new pair.' })
  refreshToken(@Arg('refreshToken') refreshToken: string, @Ctx() ctx: RequestContext): Promise<Session> {
    // Not in a savepoint: revoking a replayed token's family must stick even though the call fails.
    return rotateSession(ctx.em, ctx.services.tokens, refreshToken);
  }

  @Mutation(() => Boolean, { description: 'Ends the session the refresh token belongs to.' })
  async logout(@Arg('refreshToken') refreshToken: string, @Ctx() ctx: RequestContext): Promise<boolean> {
    await endSession(ctx.em, refreshToken);
    return true;
  }

  @Mutation(() => UserType, { description: 'ADMIN: a new ADMIN or MEMBER of the tenant.' })
  async createUser(@Arg('input', () => CreateUserInput) input: CreateUserInput, @Ctx() ctx: RequestContext): Promise<User> {
    const tenant = requireTenantData(ctx, Role.ADMIN);
    if (input.role === Role.SUPERADMIN) throw badInput('Superadmins cannot be created in a tenant', 'role');
    const email = v.email(input.email);
    const passwordHash = await ctx.services.passwords.hash(v.password(input.password));
    return mutate(
      ctx,
      async (em) => {
        if (await em.count(User, { tenant: tenant.id, email })) throw new AppError('CONFLICT', EMAIL_TAKEN.user_tenant_email_unique.message, { field: 'email' });
        const user = em.create(User, { tenant: tenant.id, email, role: input.role, passwordHash });
        await em.flush();
        return user;
      },
      { unique: EMAIL_TAKEN },
    );
  }

  /** The tenant a login is for: the input's, else the header's or host's; none for superadmins. */
  private async loginTenant(input: LoginInput, ctx: RequestContext): Promise<Tenant | null> {
    if (input.tenant) {
      const tenant = await findTenantByIdOrSlug(ctx.em, input.tenant.trim());
      if (!tenant) throw new AppError('TENANT_NOT_FOUND', `No tenant "${input.tenant}"`);
      return tenant;
    }
    const named = await tenantNamedBy(ctx.em, ctx.hints, ctx.services.config.baseDomain);
    if (named.error) throw named.error;
    return named.tenant;
  }
}
