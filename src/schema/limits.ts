import {
  type DocumentNode,
  type FragmentDefinitionNode,
  getNamedType,
  getNullableType,
  type GraphQLField,
  GraphQLList,
  type GraphQLNamedType,
  GraphQLObjectType,
  type GraphQLSchema,
  Kind,
  type OperationDefinitionNode,
  type SelectionSetNode,
  getArgumentValues,
  isAbstractType,
  isObjectType,
} from 'graphql';
import { AppError } from '../errors.js';

export const MAX_DEPTH = 10;
export const MAX_COMPLEXITY = 10_000;
/** What a list without `first` is assumed to hold. */
const LIST_FACTOR = 10;

export interface OperationCost {
  readonly depth: number;
  readonly complexity: number;
}

/**
 * Depth (root field = 0) and complexity of an operation, with its variables: every field costs 1, and a
 * field with a `first` argument, or a list without one (×10), multiplies the cost of its selection.
 * `edges` of a connection is not counted again: its size is the connection's `first`.
 */
export function measureOperation(schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode, variables: Record<string, unknown> = {}): OperationCost {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const def of document.definitions) if (def.kind === Kind.FRAGMENT_DEFINITION) fragments.set(def.name.value, def);
  const root = schema.getRootType(operation.operation);
  if (!root) return { depth: 0, complexity: 0 };

  const walk = (selectionSet: SelectionSetNode, parent: GraphQLNamedType, depth: number, seen: Set<string>): OperationCost => {
    let complexity = 0;
    let maxDepth = depth;
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FRAGMENT_SPREAD || selection.kind === Kind.INLINE_FRAGMENT) {
        let set: SelectionSetNode | undefined;
        let type: GraphQLNamedType | undefined = parent;
        if (selection.kind === Kind.FRAGMENT_SPREAD) {
          const name = selection.name.value;
          const fragment = fragments.get(name);
          if (!fragment || seen.has(name)) continue;
          seen = new Set(seen).add(name);
          set = fragment.selectionSet;
          type = schema.getType(fragment.typeCondition.name.value) ?? parent;
        } else {
          set = selection.selectionSet;
          if (selection.typeCondition) type = schema.getType(selection.typeCondition.name.value) ?? parent;
        }
        const inner = walk(set, type, depth, seen);
        complexity += inner.complexity;
        maxDepth = Math.max(maxDepth, inner.depth);
        continue;
      }
      const field = fieldOf(parent, selection.name.value);
      if (!field) {
        complexity += 1;
        continue;
      }
      let childCost = 0;
      if (selection.selectionSet) {
        const child = walk(selection.selectionSet, getNamedType(field.type), depth + 1, seen);
        childCost = child.complexity;
        maxDepth = Math.max(maxDepth, child.depth);
      }
      complexity += 1 + childCost * multiplier(field, selection, variables, parent);
    }
    return { complexity, depth: maxDepth };
  };
  return walk(operation.selectionSet, root, 0, new Set());
}

function fieldOf(parent: GraphQLNamedType, name: string): GraphQLField<unknown, unknown> | undefined {
  if (isObjectType(parent) || isAbstractType(parent) || 'getFields' in parent) {
    return (parent as GraphQLObjectType).getFields()[name];
  }
  return undefined;
}

function multiplier(field: GraphQLField<unknown, unknown>, node: Parameters<typeof getArgumentValues>[1], variables: Record<string, unknown>, parent: GraphQLNamedType): number {
  if (field.args.some((a) => a.name === 'first')) {
    try {
      const { first } = getArgumentValues(field, node, variables) as { first?: number };
      return typeof first === 'number' && first > 0 ? first : 1;
    } catch {
      return 1; // invalid arguments are reported by execution itself
    }
  }
  const isList = getNullableType(field.type) instanceof GraphQLList;
  if (!isList) return 1;
  if (field.name === 'edges' && parent.name.endsWith('Connection')) return 1;
  return LIST_FACTOR;
}

/** Throws QUERY_TOO_COMPLEX when the operation is too deep or too costly. */
export function enforceLimits(schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode, variables?: Record<string, unknown> | null): void {
  const cost = measureOperation(schema, document, operation, variables ?? {});
  if (cost.depth > MAX_DEPTH) {
    throw new AppError('QUERY_TOO_COMPLEX', `Query depth ${cost.depth} exceeds ${MAX_DEPTH}`, { depth: cost.depth, maxDepth: MAX_DEPTH });
  }
  if (cost.complexity > MAX_COMPLEXITY) {
    throw new AppError('QUERY_TOO_COMPLEX', `Query complexity ${cost.complexity} exceeds ${MAX_COMPLEXITY}`, {
      complexity: cost.complexity,
      maxComplexity: MAX_COMPLEXITY,
    });
  }
}
