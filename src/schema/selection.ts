import { type GraphQLResolveInfo, Kind, type SelectionSetNode } from 'graphql';

/**
 * The fields the operation selects on what a resolver returns, or, along `path`, on what that holds (a
 * connection's rows: `['edges', 'node']`): every field of every branch, fragments and inline fragments
 * followed, whatever their `@include`/`@skip` or type condition. A superset of what execution reads, so
 * a row holding these fields answers the operation; for `findRows`, which then reads no other columns.
 */
export function selectedFields(info: GraphQLResolveInfo, path: readonly string[] = []): Set<string> {
  let sets = info.fieldNodes.flatMap((node) => (node.selectionSet ? [node.selectionSet] : []));
  for (const step of path) sets = sets.flatMap((set) => subSelections(info, set, step));
  const names = new Set<string>();
  for (const set of sets) collect(info, set, (name) => names.add(name));
  return names;
}

/** The selection sets of the fields named `name` in `set`. */
function subSelections(info: GraphQLResolveInfo, set: SelectionSetNode, name: string): SelectionSetNode[] {
  const found: SelectionSetNode[] = [];
  collect(info, set, (field, selectionSet) => {
    if (field === name && selectionSet) found.push(selectionSet);
  });
  return found;
}

/** Every field of `set`, through its fragments (each fragment once: a document has no fragment cycles after validation). */
function collect(info: GraphQLResolveInfo, set: SelectionSetNode, visit: (name: string, selectionSet: SelectionSetNode | undefined) => void, seen = new Set<string>()): void {
  for (const selection of set.selections) {
    if (selection.kind === Kind.FIELD) visit(selection.name.value, selection.selectionSet);
    else if (selection.kind === Kind.INLINE_FRAGMENT) collect(info, selection.selectionSet, visit, seen);
    else if (!seen.has(selection.name.value)) {
      seen.add(selection.name.value);
      const fragment = info.fragments[selection.name.value];
      if (fragment) collect(info, fragment.selectionSet, visit, seen);
    }
  }
}
