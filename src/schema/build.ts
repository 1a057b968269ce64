import { printSchemaWithDirectives } from '@graphql-tools/utils';
import { createPubSub } from '@graphql-yoga/subscription';
import { DateTimeResolver } from 'graphql-scalars';
import { type GraphQLSchema, specifiedDirectives } from 'graphql';
import { buildSchema } from 'type-graphql';
import { applySuperadminDirective, superadminDirective } from './directives/superadmin.js';
import { AuthResolver } from './resolvers/auth.js';
import { CatalogResolver } from './resolvers/catalog.js';
import { PlatformResolver } from './resolvers/platform.js';
import { CustomerResolver, OrderLineResolver, OrderResolver } from './resolvers/sales.js';
import { DomainResolver, TenancyResolver } from './resolvers/tenancy.js';
import { SubscriptionResolver } from './resolvers/subscriptions.js';
import { LifecycleResolver, TenantDeletionResolver } from './resolvers/lifecycle.js';

/**
 * The one executable schema, shared by Apollo (HTTP) and graphql-ws (WebSocket), with `@superadmin`
 * enforcement applied to it so neither transport can skip it.
 */
export async function buildTenantrySchema(): Promise<GraphQLSchema> {
  const schema = await buildSchema({
    resolvers: [AuthResolver, TenancyResolver, DomainResolver, CatalogResolver, CustomerResolver, OrderResolver, OrderLineResolver, PlatformResolver, SubscriptionResolver, LifecycleResolver, TenantDeletionResolver],
    scalarsMap: [{ type: Date, scalar: DateTimeResolver }],
    // type-graphql's `directives` replaces graphql's own: without them `@include`, `@skip`, `@deprecated`,
    // `@specifiedBy` and `@oneOf` are unknown directives, which every client's documents may use.
    directives: [...specifiedDirectives, superadminDirective],
    // Subscriptions bring their own event source (src/jobs/tenantEvents.ts); type-graphql insists on one.
    pubSub: createPubSub(),
    validate: false,
    emitSchemaFile: false,
  });
  return applySuperadminDirective(schema);
}

export function printTenantrySchema(schema: GraphQLSchema): string {
  return `${printSchemaWithDirectives(schema)}\n`;
}
