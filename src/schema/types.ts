import { Field, Float, ID, InputType, Int, ObjectType, registerEnumType, Directive, type ClassType } from 'type-graphql';
import { OrderStatus } from '../entities/Order.js';
import { TenantStatus } from '../entities/Tenant.js';
import { Role } from '../entities/User.js';
import { EXPORT_STATUSES, type ExportStatus } from '../lifecycle/exports.js';

// GraphQL shapes of api-contract.md. Resolvers return entities; these classes only describe fields.

/**
 * For the types a list page returns by the hundred (rows, edges, pages): their plain fields are read by
 * graphql's default resolver, not through a resolver type-graphql builds per field (a closure, an
 * object per call and its middleware chain, which these fields have none of). Their values are plain
 * data: rows, entities, edges.
 */
const HOT = { simpleResolvers: true } as const;

registerEnumType(Role, { name: 'Role' });
registerEnumType(TenantStatus, { name: 'TenantStatus' });
registerEnumType(OrderStatus, { name: 'OrderStatus' });

@ObjectType('PageInfo', { ...HOT, description: 'Forward paging: pass endCursor as `after` for the next page.' })
export class PageInfoType {
  @Field() hasNextPage!: boolean;
  @Field({ description: 'Whether this page starts after a cursor (`after` was given): rows come before it.' }) hasPreviousPage!: boolean;
  @Field(() => String, { nullable: true, description: "The first edge's cursor; null on an empty page." }) startCursor!: string | null;
  @Field(() => String, { nullable: true, description: "The last edge's cursor; null on an empty page." }) endCursor!: string | null;
}

/** `XConnection { edges: [XEdge!]!, pageInfo: PageInfo!, totalCount: Int! }` for a node type. */
export function Connection<T extends object>(node: ClassType<T>, name: string) {
  @ObjectType(`${name}Edge`, HOT)
  class Edge {
    @Field() cursor!: string;
    @Field(() => node) node!: T;
  }
  @ObjectType(`${name}Connection`, HOT)
  class ConnectionType {
    @Field(() => [Edge]) edges!: Edge[];
    @Field(() => PageInfoType) pageInfo!: PageInfoType;
    // A function on the page object, called by graphql's default resolver: counted only when selected.
    @Field(() => Int) totalCount!: () => Promise<number>;
  }
  return ConnectionType;
}

@ObjectType('DomainVerificationRecord', { description: 'The DNS record that proves control of a claimed hostname.' })
export class DomainVerificationRecordType {
  @Field({ description: 'Always TXT.' }) type!: string;
  @Field({ description: '`_tenantry-challenge.<hostname>`' }) name!: string;
  @Field({ description: "The claim's token, the record's whole value." }) value!: string;
  @Field({ description: 'verifyDomain refuses the claim after this (DOMAIN_CLAIM_EXPIRED).' }) expiresAt!: Date;
}

@ObjectType('Domain')
export class DomainType {
  @Field(() => ID) id!: string;
  @Field() hostname!: string;
  @Field({ description: 'Only a verified domain is primary.' }) isPrimary!: boolean;
  @Field({ description: "Requests on this hostname reach the tenant: set when the domain is verified." }) isActive!: boolean;
  @Field({ description: "Proven by its DNS record, or the tenant's own <slug>.<BASE_DOMAIN>." }) verified!: boolean;
  @Field(() => DomainVerificationRecordType, { nullable: true, description: 'The record to publish before verifyDomain; null once verified.' })
  verificationRecord?: DomainVerificationRecordType | null;
}

@ObjectType('TableRows')
export class TableRowsType {
  @Field() table!: string;
  @Field(() => Float, { description: 'Rows (a Float: counts can pass 2^31).' }) rows!: number;
}

@ObjectType('TenantDeletion', { description: 'The tombstone of a tenant being or having been erased.' })
export class TenantDeletionType {
  @Field({ description: 'The slug when the deletion was asked for.' }) slug!: string;
  @Field() requestedAt!: Date;
  @Field(() => Date, { nullable: true, description: 'When it became DELETED.' }) finishedAt?: Date | null;
  @Field(() => [TableRowsType], { description: 'Rows deleted so far, per table.' }) rows!: TableRowsType[];
}

@ObjectType('Tenant')
export class TenantType {
  @Field(() => ID) id!: string;
  @Field() name!: string;
  @Field() slug!: string;
  @Field() isActive!: boolean;
  @Field(() => TenantStatus) status!: TenantStatus;
  @Field(() => String, { nullable: true }) statusError?: string | null;
  @Field(() => Date, { nullable: true }) preparationStartedAt?: Date | null;
  @Field(() => Date, { nullable: true }) preparationCompletedAt?: Date | null;
  @Field(() => [DomainType]) domains!: DomainType[];
  @Field() createdAt!: Date;
  @Field(() => TenantDeletionType, { nullable: true, description: 'Set once the tenant is DELETING: what was deleted, and when.' })
  deletion?: TenantDeletionType | null;
}
export const TenantConnection = Connection(TenantType, 'Tenant');

@ObjectType('User')
export class UserType {
  @Field(() => ID) id!: string;
  @Field() email!: string;
  @Field(() => Role) role!: Role;
  @Field({ description: 'False once an ADMIN deactivated the account (setUserActive).' }) isActive!: boolean;
  @Field(() => TenantType, { nullable: true }) tenant?: TenantType | null;
  @Field() createdAt!: Date;
}

@ObjectType('AuthPayload')
export class AuthPayloadType {
  @Field() accessToken!: string;
  @Field() refreshToken!: string;
  @Field() expiresAt!: Date;
  @Field(() => UserType) user!: UserType;
  @Field(() => TenantType, { nullable: true }) tenant?: TenantType | null;
}

@ObjectType('Product', HOT)
export class ProductType {
  @Field(() => ID) id!: string;
  @Field() sku!: string;
  @Field() name!: string;
  @Field(() => Int) priceCents!: number;
  @Field() createdAt!: Date;
  @Field() updatedAt!: Date;
}
export const ProductConnection = Connection(ProductType, 'Product');

@ObjectType('OrderLine', HOT)
export class OrderLineType {
  @Field(() => ID) id!: string;
  @Field(() => ProductType) product!: ProductType;
  @Field(() => Int) quantity!: number;
  @Field(() => Int) unitPriceCents!: number;
}

@ObjectType('Order', HOT)
export class OrderType {
  @Field(() => ID) id!: string;
  @Field(() => Int) number!: number;
  @Field(() => OrderStatus) status!: OrderStatus;
  // Declared lazily: Customer and Order refer to each other.
  @Field(() => CustomerType) customer!: unknown;
  @Field(() => [OrderLineType]) lines!: OrderLineType[];
  @Field(() => Int) totalCents!: number;
  @Field() createdAt!: Date;
}
export const OrderConnection = Connection(OrderType, 'Order');

@ObjectType('Customer', HOT)
export class CustomerType {
  @Field(() => ID) id!: string;
  @Field() name!: string;
  @Field(() => String, { nullable: true }) email?: string | null;
  @Field(() => OrderConnection) orders!: unknown;
  @Field() createdAt!: Date;
}
export const CustomerConnection = Connection(CustomerType, 'Customer');

@ObjectType('TenantStatusEvent')
export class TenantStatusEventType {
  @Field(() => ID) tenantId!: string;
  @Field(() => TenantStatus) status!: TenantStatus;
  @Field(() => String, { nullable: true }) error?: string | null;
  @Field() at!: Date;
}

@Directive('@superadmin')
@ObjectType('TenantReport')
export class TenantReportType {
  @Field(() => TenantType) tenant!: TenantType;
  @Field(() => Int) customers!: number;
  @Field(() => Int) orders!: number;
  @Field(() => Int) revenueCents!: number;
  @Field(() => Date, { nullable: true }) lastOrderAt?: Date | null;
}

@Directive('@superadmin')
@ObjectType('AuditEvent')
export class AuditEventType {
  @Field(() => ID) id!: string;
  @Field() action!: string;
  @Field(() => ID, { nullable: true }) actorId?: string | null;
  @Field(() => ID, { nullable: true }) tenantId?: string | null;
  @Field(() => String, { nullable: true }) target?: string | null;
  @Field() at!: Date;
}
export const AuditEventConnection = Connection(AuditEventType, 'AuditEvent');

@InputType('SignUpInput')
export class SignUpInput {
  @Field() tenantName!: string;
  @Field() slug!: string;
  @Field() email!: string;
  @Field() password!: string;
}

@InputType('LoginInput')
export class LoginInput {
  @Field() email!: string;
  @Field() password!: string;
  @Field(() => String, { nullable: true }) tenant?: string | null;
}

@InputType('CreateUserInput')
export class CreateUserInput {
  @Field() email!: string;
  @Field() password!: string;
  @Field(() => Role) role!: Role;
}

@InputType('ProductInput')
export class ProductInput {
  @Field() sku!: string;
  @Field() name!: string;
  @Field(() => Int) priceCents!: number;
}

@InputType('ProductPatch')
export class ProductPatch {
  @Field(() => String, { nullable: true }) sku?: string | null;
  @Field(() => String, { nullable: true }) name?: string | null;
  @Field(() => Int, { nullable: true }) priceCents?: number | null;
}

@InputType('CustomerInput')
export class CustomerInput {
  @Field() name!: string;
  @Field(() => String, { nullable: true }) email?: string | null;
}

@InputType('OrderLineInput')
export class OrderLineInput {
  @Field(() => ID) productId!: string;
  @Field(() => Int) quantity!: number;
}

@InputType('OrderInput')
export class OrderInput {
  @Field(() => ID) customerId!: string;
  @Field(() => [OrderLineInput]) lines!: OrderLineInput[];
}

/** The lifecycle's export states as a GraphQL enum (one list: src/lifecycle/exports.ts). */
const TenantExportStatus = Object.fromEntries(EXPORT_STATUSES.map((s) => [s, s])) as { readonly [S in ExportStatus]: S };
registerEnumType(TenantExportStatus, { name: 'TenantExportStatus' });

@Directive('@superadmin')
@ObjectType('TenantExport', { description: "An export of a tenant's data, run as a job; its archive is kept until expiresAt." })
export class TenantExportType {
  @Field(() => ID) id!: string;
  @Field(() => ID) tenantId!: string;
  @Field(() => TenantExportStatus) status!: ExportStatus;
  @Field(() => Float, { description: 'Rows written so far.' }) rows!: number;
  @Field(() => Float, { nullable: true, description: 'Rows in all, once the export has counted them.' }) totalRows?: number | null;
  @Field(() => Float, { nullable: true, description: "The archive's size in bytes, once READY." }) bytes?: number | null;
  @Field(() => String, { nullable: true, description: "The archive's SHA-256 (hex), once READY." }) sha256?: string | null;
  @Field(() => String, { nullable: true }) error?: string | null;
  @Field() createdAt!: Date;
  @Field(() => Date, { nullable: true }) startedAt?: Date | null;
  @Field(() => Date, { nullable: true }) finishedAt?: Date | null;
  @Field({ description: 'The archive is deleted then (EXPIRED).' }) expiresAt!: Date;
  @Field(() => String, {
    nullable: true,
    description: 'READY only: a path on this API (GET, no token needed) that serves the archive for EXPORT_URL_TTL_SECONDS (10 minutes by default); read the field again for a fresh one.',
  })
  downloadUrl?: string | null;
}
