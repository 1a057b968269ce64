import { getDirective, MapperKind, mapSchema } from '@graphql-tools/utils';
import {
  defaultFieldResolver,
  DirectiveLocation,
  GraphQLDirective,
  type GraphQLFieldConfig,
  type GraphQLFieldResolver,
  getNamedType,
  type GraphQLSchema,
} from 'graphql';
import type { RequestContext } from '../../context/requestContext.js';
import { requireSuperadmin } from '../guards.js';

export const superadminDirective = new GraphQLDirective({
  name: 'superadmin',
  description: 'Superadmins only: cross-tenant administration.',
  locations: [DirectiveLocation.OBJECT, DirectiveLocation.FIELD_DEFINITION],
});

/**
 * Enforces `@superadmin` at execution, for every transport (HTTP and WebSocket run this same schema):
 * on marked fields, on every field of a marked type, and on every field that returns a marked type.
 * Both `resolve` and `subscribe` are guarded: graphql-js never calls `resolve` to start a subscription.
 */
export function applySuperadminDirective(schema: GraphQLSchema): GraphQLSchema {
  const isMarked = (node: Parameters<typeof getDirective>[1]) => Boolean(getDirective(schema, node, 'superadmin')?.length);
  return mapSchema(schema, {
    [MapperKind.OBJECT_FIELD]: (field: GraphQLFieldConfig<unknown, RequestContext>, _name, typeName) => {
      const owner = schema.getType(typeName);
      const returned = getNamedType(field.type);
      const guarded =
        isMarked(field) ||
        (owner !== undefined && 'getFields' in owner && isMarked(owner as never)) ||
        ('getFields' in returned && isMarked(returned as never));
      if (!guarded) return field;
      return {
        ...field,
        resolve: guard(field.resolve ?? defaultFieldResolver),
        ...(field.subscribe ? { subscribe: guard(field.subscribe) } : {}),
      };
    },
  });
}

function guard(next: GraphQLFieldResolver<unknown, RequestContext>): GraphQLFieldResolver<unknown, RequestContext> {
  return (source, args, ctx, info) => {
    requireSuperadmin(ctx);
    return next(source, args, ctx, info);
  };
}
