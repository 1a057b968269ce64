import { badInput } from '../errors.js';

/**
 * Keyset cursors: the sort key of the last row seen, opaque to clients (base64url JSON). Stable while
 * rows are added, unlike offsets, and each page is an index range scan.
 */
export function encodeCursor(key: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

export function decodeCursor(cursor: string | undefined | null, shape: readonly ('string' | 'number')[]): (string | number)[] | undefined {
  if (cursor === undefined || cursor === null) return undefined;
  try {
    const key: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(key) && key.length === shape.length && key.every((v, i) => typeof v === shape[i])) return key;
  } catch {
    // fall through: a cursor we did not issue
  }
  throw badInput('Invalid cursor', 'after');
}

export interface Page<T> {
  readonly edges: { cursor: string; node: T }[];
  readonly pageInfo: { hasNextPage: boolean; endCursor: string | null };
  /** Counted only when the client selects it. */
  readonly totalCount: () => Promise<number>;
}

/** `rows` holds up to `first + 1` rows: the extra one only says whether there is a next page. */
export function toPage<T>(rows: T[], first: number, keyOf: (row: T) => (string | number)[], totalCount: () => Promise<number>): Page<T> {
  const nodes = rows.slice(0, first);
  const edges = nodes.map((node) => ({ cursor: encodeCursor(keyOf(node)), node }));
  return {
    edges,
    pageInfo: { hasNextPage: rows.length > first, endCursor: edges.at(-1)?.cursor ?? null },
    totalCount,
  };
}
