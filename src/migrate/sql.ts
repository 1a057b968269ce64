import type { EntityManager } from '@mikro-orm/postgresql';
import pg from 'pg';

/**
 * SQL text helpers for the migrator. Legacy schema names can hold hyphens, upper case, quotes, dots
 * and non-ASCII letters: every identifier goes through `qi`, every literal through `ql`.
 */
export const qi = (name: string): string => pg.escapeIdentifier(name);
export const ql = (value: string): string => pg.escapeLiteral(value);
export const qualified = (schema: string, table: string): string => `${qi(schema)}.${qi(table)}`;

type Executor = ReturnType<EntityManager['getKysely']>;
type CompiledQuery = Parameters<Executor['executeQuery']>[0];

/**
 * Runs `sql` with real bind parameters (`$1`, `$2`, …) on the transaction `em` is inside, so it sees
 * that transaction's session context (the platform role of `asPlatform`, the tenant of `inTenant`).
 * `em.execute` would splice the values into the SQL text instead, which for a batch of thousands of
 * rows means escaping megabytes of JSON in JavaScript.
 */
export async function txQuery<R>(em: EntityManager, sql: string, params: readonly unknown[] = []): Promise<{ rows: R[]; affected: number }> {
  if (!em.getTransactionContext()) throw new Error('txQuery needs a transaction (asPlatform, inTenant or em.transactional)');
  const compiled = {
    sql,
    parameters: params,
    query: { kind: 'RawNode', sqlFragments: [sql], parameters: [] },
    queryId: { queryId: 'migrate' },
  } as unknown as CompiledQuery;
  const result = await em.getKysely().executeQuery(compiled);
  return { rows: result.rows as R[], affected: Number(result.numAffectedRows ?? 0) };
}
