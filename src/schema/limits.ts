import {
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  getArgumentValues,
  getNamedType,
  getNullableType,
  type GraphQLField,
  GraphQLList,
  type GraphQLNamedType,
  type GraphQLSchema,
  isInterfaceType,
  isObjectType,
  Kind,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';
import { AppError, badInput } from '../errors.js';

export const MAX_DEPTH = 10;
export const MAX_COMPLEXITY = 10_000;
/** Root fields of one mutation: each can write, so aliases must not multiply writes without bound. */
export const MAX_MUTATION_FIELDS = 10;
/** What a list without `first` is assumed to hold. */
const LIST_FACTOR = 10;

/** How a client gets or ends a session: these ignore the caller's token and tenant headers. */
export const SESSION_FIELDS: ReadonlySet<string> = new Set(['signUp', 'login', 'refreshToken', 'logout']);

export interface OperationShape {
  /** Root fields by response key (alias or name), through fragments; duplicates merge as in execution. */
  readonly rootFields: ReadonlyMap<string, string>;
  readonly depth: number;
  readonly complexity: number;
}

interface Cost {
  readonly complexity: number;
  /** Levels below the selection set's own fields (0 when every field is a leaf). */
  readonly depth: number;
}

/**
 * Depth (root field = 0), complexity and root fields of an operation, with its coerced variables; text
 * holding NUL anywhere in the arguments is refused (BAD_USER_INPUT). Every
 * field costs 1 plus the number of list elements in its arguments (an order line costs like a row
 * written); a field with a `first` argument, or a list without one (×10), multiplies the cost of its
 * selection. `edges` of a connection is not counted again: its size is the connection's `first`.
 *
 * Linear in the document: each named fragment is measured once and its cost reused at every spread (a
 * document whose fragments spread each other twice per level would otherwise cost 2^levels walks).
 * Runs after graphql-js validation, so fragments exist and do not cycle; a cycle still ends the walk.
 */
export function analyzeOperation(schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode, variables: Record<string, unknown>): OperationShape {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const def of document.definitions) if (def.kind === Kind.FRAGMENT_DEFINITION) fragments.set(def.name.value, def);
  const root = schema.getRootType(operation.operation);
  if (!root) return { rootFields: new Map(), depth: 0, complexity: 0 };

  const measured = new Map<string, Cost>();
  const inProgress = new Set<string>();
  const ZERO: Cost = { complexity: 0, depth: 0 };

  const fragmentCost = (name: string): Cost => {
    const known = measured.get(name);
    if (known) return known;
    const fragment = fragments.get(name);
    if (!fragment || inProgress.has(name)) return ZERO;
    inProgress.add(name);
    const cost = selectionCost(fragment.selectionSet, schema.getType(fragment.typeCondition.name.value) ?? root);
    inProgress.delete(name);
    measured.set(name, cost);
    return cost;
  };

  const selectionCost = (set: SelectionSetNode, parent: GraphQLNamedType): Cost => {
    let complexity = 0;
    let depth = 0;
    for (const selection of set.selections) {
      let inner: Cost;
      if (selection.kind === Kind.FRAGMENT_SPREAD) {
        inner = fragmentCost(selection.name.value);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        const type = selection.typeCondition ? (schema.getType(selection.typeCondition.name.value) ?? parent) : parent;
        inner = selectionCost(selection.selectionSet, type);
      } else {
        inner = fieldCost(selection, parent);
      }
      complexity += inner.complexity;
      depth = Math.max(depth, inner.depth);
    }
    return { complexity, depth };
  };

  const fieldCost = (node: FieldNode, parent: GraphQLNamedType): Cost => {
    const field = fieldOf(parent, node.name.value);
    if (!field) return { complexity: 1, depth: 0 };
    const args = argumentValues(field, node, variables);
    const own = 1 + inputSize(args, node.name.value);
    if (!node.selectionSet) return { complexity: own, depth: 0 };
    const child = selectionCost(node.selectionSet, getNamedType(field.type));
    return { complexity: own + child.complexity * multiplier(field, args, parent), depth: child.depth + 1 };
  };

  const { complexity, depth } = selectionCost(operation.selectionSet, root);
  return { rootFields: collectRootFields(fragments, operation), depth, complexity };
}

/** Response key → field name of the root selection, each fragment visited once. */
function collectRootFields(fragments: ReadonlyMap<string, FragmentDefinitionNode>, operation: OperationDefinitionNode): Map<string, string> {
  const fields = new Map<string, string>();
  const visited = new Set<string>();
  const collect = (set: SelectionSetNode) => {
    for (const s of set.selections) {
      if (s.kind === Kind.FIELD) fields.set(s.alias?.value ?? s.name.value, s.name.value);
      else if (s.kind === Kind.INLINE_FRAGMENT) collect(s.selectionSet);
      else if (!visited.has(s.name.value)) {
        visited.add(s.name.value);
        const fragment = fragments.get(s.name.value);
        if (fragment) collect(fragment.selectionSet);
      }
    }
  };
  collect(operation.selectionSet);
  return fields;
}

function fieldOf(parent: GraphQLNamedType, name: string): GraphQLField<unknown, unknown> | undefined {
  return isObjectType(parent) || isInterfaceType(parent) ? parent.getFields()[name] : undefined;
}

function argumentValues(field: GraphQLField<unknown, unknown>, node: FieldNode, variables: Record<string, unknown>): Record<string, unknown> {
  if (field.args.length === 0) return {};
  try {
    return getArgumentValues(field, node, variables);
  } catch {
    return {}; // invalid arguments are reported by execution itself
  }
}

/**
 * List elements anywhere in an argument value: what a mutation will write, a filter will match. Refuses
 * text holding NUL on the way (BAD_USER_INPUT): Postgres cannot store it, and would fail the statement.
 */
function inputSize(value: unknown, field: string): number {
  if (typeof value === 'string') {
    if (value.includes('\u0000')) throw badInput('Text may not contain NUL characters', field);
    return 0;
  }
  if (Array.isArray(value)) return value.reduce<number>((n, item) => n + 1 + inputSize(item, field), 0);
  if (value !== null && typeof value === 'object') return Object.values(value).reduce<number>((n, v) => n + inputSize(v, field), 0);
  return 0;
}

function multiplier(field: GraphQLField<unknown, unknown>, args: Record<string, unknown>, parent: GraphQLNamedType): number {
  if (field.args.some((a) => a.name === 'first')) {
    const first = args.first;
    return typeof first === 'number' && first > 0 ? first : 1;
  }
  const isList = getNullableType(field.type) instanceof GraphQLList;
  if (!isList) return 1;
  if (field.name === 'edges' && parent.name.endsWith('Connection')) return 1;
  return LIST_FACTOR;
}

/**
 * Refuses, before anything runs, an operation that is too deep or too costly (QUERY_TOO_COMPLEX), a
 * mutation with more than MAX_MUTATION_FIELDS root fields (QUERY_TOO_COMPLEX), and a session field
 * (signUp, login, refreshToken, logout) that is not alone in its operation (BAD_USER_INPUT): those run
 * outside any transaction, and hash passwords, so they are never batched.
 */
export function enforceLimits(shape: OperationShape, operation: OperationDefinitionNode): void {
  if (shape.depth > MAX_DEPTH) {
    throw new AppError('QUERY_TOO_COMPLEX', `Query depth ${shape.depth} exceeds ${MAX_DEPTH}`, { depth: shape.depth, maxDepth: MAX_DEPTH });
  }
  if (shape.complexity > MAX_COMPLEXITY) {
    throw new AppError('QUERY_TOO_COMPLEX', `Query complexity ${shape.complexity} exceeds ${MAX_COMPLEXITY}`, {
      complexity: shape.complexity,
      maxComplexity: MAX_COMPLEXITY,
    });
  }
  if (operation.operation === 'mutation' && shape.rootFields.size > MAX_MUTATION_FIELDS) {
    throw new AppError('QUERY_TOO_COMPLEX', `A mutation has at most ${MAX_MUTATION_FIELDS} root fields, this one has ${shape.rootFields.size}`, {
      rootFields: shape.rootFields.size,
      maxRootFields: MAX_MUTATION_FIELDS,
    });
  }
  const names = [...shape.rootFields.values()].filter((n) => n !== '__typename');
  if (names.some((n) => SESSION_FIELDS.has(n)) && names.length > 1) {
    throw badInput('signUp, login, refreshToken and logout must each be alone in their operation');
  }
}
