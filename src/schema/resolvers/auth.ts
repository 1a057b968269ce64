import { randomUUID } from 'node:crypto';
import { Arg, Ctx, FieldResolver, ID, Mutation, Query, Resolver, Root } from 'type-graphql';
import { changeAccount } from '../../auth/accounts.js';
import { endSession, issueSession, rotateSession, type Session, startSession, tenantInactiveError } from '../../auth/sessions.js';
import type { RequestContext } from '../../context/requestContext.js';
import { findTenantByIdOrSlug, tenantNamedBy } from '../../context/resolveTenant.js';
import { AuditEvent } from '../../entities/AuditEvent.js';
import { Tenant } from '../../entities/Tenant.js';
import { Role, User } from '../../entities/User.js';
import { AppError, badInput, unauthenticated } from '../../errors.js';
import { inTenant } from '../../filters/inTenant.js';
import { asPlatform } from '../../filters/platform.js';
import { publishStatus } from '../../jobs/prepareTenant.js';
import { requireTenantData, requireUser } from '../guards.js';
import { mutate, withConflicts } from '../mutate.js';
import { AuthPayloadType, CreateUserInput, LoginInput, SignUpInput, TenantType, UserType } from '../types.js';
import * as v from '../validation.js';

const EMAIL_TAKEN = { user_tenant_email_unique: { message: 'A user with this email already exists in this tenant', field: 'email' } };
const BAD_CREDENTIALS = 'Invalid email or password';

@Resolver(() => UserType)
export class AuthResolver {
  @Query(() => UserType, { nullable: true, description: 'The caller, in any tenant status; null without a token.' })
  async me(@Ctx() ctx: RequestContext): Promise<User | null> {
    const principal = ctx.principal;
    if (!principal) return null;
    // A tenant user: their role and active flag were checked as the unit of work opened (currentState).
    if (principal.tenantId) return ctx.em.findOne(User, principal.userId);
    // A superadmin is a platform row: read through the escape hatch, audited.
    return asPlatform(ctx.services.orm, { action: 'superadmin.me', actorId: principal.userId }, (em) =>
      em.findOne(User, { id: principal.userId, role: Role.SUPERADMIN }),
    );
  }

  @Query(() => [UserType], { description: "The tenant's users (ADMIN)." })
  async users(@Ctx() ctx: RequestContext): Promise<User[]> {
    requireTenantData(ctx, Role.ADMIN);
    return ctx.em.find(User, {}, { orderBy: { email: 'asc' } });
  }

  @FieldResolver(() => TenantType, { nullable: true })
  tenant(@Root() user: User, @Ctx() ctx: RequestContext): Promise<Tenant | null> | Tenant | null {
    if (!user.tenant) return null;
    // A session's user comes with its tenant loaded in the session's own scope (src/auth/sessions.ts).
    return user.tenant.isInitialized() ? user.tenant.getEntity() : ctx.loaders.tenant.load(user.tenant.id);
  }

  @Mutation(() => AuthPayloadType, { description: 'A new tenant (PENDING) and its first ADMIN; preparation continues in the background.' })
  async signUp(@Arg('input', () => SignUpInput) input: SignUpInput, @Ctx() ctx: RequestContext): Promise<Session> {
    const tenantName = v.name(input.tenantName, 'tenantName');
    const slug = v.slug(input.slug.trim().toLowerCase());
    const email = v.email(input.email);
    const passwordHash = await ctx.services.passwords.hash(v.password(input.password));
    const tenantId = randomUUID();
    // One transaction in the new tenant's own scope: its first user, refresh token and audit event are
    // its rows (filter, write guard and RLS all check them); the tenant row itself is shared.
    return withConflicts(
      () =>
        inTenant(ctx.services.orm, tenantId, async (em) => {
          if (await em.count(Tenant, { slug })) throw new AppError('CONFLICT', 'This slug is taken', { field: 'slug' });
          const tenant = em.create(Tenant, { id: tenantId, name: tenantName, slug });
          const user = em.create(User, { tenant, email, role: Role.ADMIN, passwordHash });
          em.create(AuditEvent, { action: 'tenant.signUp', actorId: user.id, tenantId, target: slug });
          await em.flush();
          await ctx.services.provisioner.enqueue(em, tenantId);
          await publishStatus(em, tenant); // superadmins' all-tenants streams hear of the new tenant
          return issueSession(em, ctx.services.tokens, user);
        }),
      { unique: { tenant_slug_unique: { message: 'This slug is taken', field: 'slug' } } },
    );
  }

  /**
   * The user is looked up inside the named tenant's scope (a superadmin: one audited lookup through the
   * escape hatch), the password verified outside any transaction (argon2 holds no pooled connection),
   * and the session written back in the same scope.
   */
  @Mutation(() => AuthPayloadType)
  async login(@Arg('input', () => LoginInput) input: LoginInput, @Ctx() ctx: RequestContext): Promise<Session> {
    const email = input.email.trim().toLowerCase();
    const tenant = await this.loginTenant(input, ctx);
    const user = tenant
      ? await inTenant(ctx.services.orm, tenant.id, (em) => em.findOne(User, { email }))
      : await asPlatform(ctx.services.orm, { action: 'superadmin.login', target: email }, async (em, audit) => {
          const found = await em.findOne(User, { tenant: null, email, role: Role.SUPERADMIN });
          audit.actorId = found?.id ?? null;
          return found;
        });
    // A deactivated user is refused exactly like a wrong password, after the same work.
    if (!(await ctx.services.passwords.verify(user?.passwordHash, input.password)) || !user?.isActive) {
      throw unauthenticated(BAD_CREDENTIALS);
    }
    if (tenant && !tenant.isActive) throw tenantInactiveError();
    return startSession(ctx.services.orm, ctx.services.tokens, { id: user.id, tenantId: tenant?.id ?? null });
  }

  @Mutation(() => AuthPayloadType, { description: 'Spends the refresh token and returns a new pair.' })
  refreshToken(@Arg('refreshToken') refreshToken: string, @Ctx() ctx: RequestContext): Promise<Session> {
    return rotateSession(ctx.services.orm, ctx.services.tokens, refreshToken);
  }

  @Mutation(() => Boolean, { description: 'Ends the session the refresh token belongs to.' })
  async logout(@Arg('refreshToken') refreshToken: string, @Ctx() ctx: RequestContext): Promise<boolean> {
    await endSession(ctx.services.orm, refreshToken);
    return true;
  }

  @Mutation(() => UserType, { description: 'ADMIN: a new ADMIN or MEMBER of the tenant.' })
  async createUser(@Arg('input', () => CreateUserInput) input: CreateUserInput, @Ctx() ctx: RequestContext): Promise<User> {
    const tenantId = requireTenantData(ctx, Role.ADMIN);
    if (input.role === Role.SUPERADMIN) throw badInput('Superadmins cannot be created in a tenant', 'role');
    const email = v.email(input.email);
    const passwordHash = await ctx.services.passwords.hash(v.password(input.password));
    return mutate(
      ctx,
      async (em) => {
        if (await em.count(User, { email })) throw new AppError('CONFLICT', EMAIL_TAKEN.user_tenant_email_unique.message, { field: 'email' });
        const user = em.create(User, { tenant: tenantId, email, role: input.role, passwordHash });
        await em.flush();
        return user;
      },
      { unique: EMAIL_TAKEN },
    );
  }

  @Mutation(() => UserType, {
    description: "ADMIN: a user's role in the own tenant (ADMIN or MEMBER). The tenant keeps at least one active ADMIN (else CONFLICT); the user's sessions end.",
  })
  updateUserRole(@Arg('id', () => ID) id: string, @Arg('role', () => Role) role: Role, @Ctx() ctx: RequestContext): Promise<User> {
    requireTenantData(ctx, Role.ADMIN);
    const actor = requireUser(ctx);
    if (role === Role.SUPERADMIN) throw badInput('Superadmin is not a role in a tenant', 'role');
    const userId = v.id(id);
    return mutate(ctx, (em) => changeAccount(em, userId, { role }, actor.userId));
  }

  @Mutation(() => UserType, {
    description: 'ADMIN: (de)activates a user of the own tenant. A deactivated user cannot log in, refresh or act; the tenant keeps at least one active ADMIN (else CONFLICT).',
  })
  setUserActive(@Arg('id', () => ID) id: string, @Arg('isActive') isActive: boolean, @Ctx() ctx: RequestContext): Promise<User> {
    requireTenantData(ctx, Role.ADMIN);
    const actor = requireUser(ctx);
    const userId = v.id(id);
    return mutate(ctx, (em) => changeAccount(em, userId, { isActive }, actor.userId));
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
