import pg from 'pg';

/**
 * The legacy database, only ever read. Each tenant is read inside one `REPEATABLE READ READ ONLY`
 * transaction: the plan, every copy batch and the verification checksum see the same snapshot, and
 * the server itself refuses any write.
 */
export class LegacySource {
  private readonly pool: pg.Pool;

  constructor(url: string, maxConnections: number) {
    this.pool = new pg.Pool({ connectionString: url, max: maxConnections, application_name: 'tenantry-migrate' });
    // An idle connection dropped by the server surfaces on the next query; without a listener the
    // pool's 'error' event would crash the process instead.
    this.pool.on('error', () => undefined);
  }

  /** One statement outside a snapshot (the registry). */
  async query<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<R[]> {
    const client = await this.pool.connect();
    try {
      await client.query('begin isolation level repeatable read read only');
      const { rows } = await client.query<R>(sql, params);
      await client.query('commit');
      return rows;
    } catch (err) {
      await client.query('rollback').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  /** Runs `fn` on one read-only snapshot. */
  async snapshot<T>(fn: (snap: Snapshot) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken = false;
    try {
      await client.query('begin isolation level repeatable read read only');
      const result = await fn({
        query: async <R extends pg.QueryResultRow>(sql: string, params: unknown[] = []) => (await client.query<R>(sql, params)).rows,
      });
      await client.query('commit');
      return result;
    } catch (err) {
      await client.query('rollback').catch(() => {
        broken = true;
      });
      throw err;
    } finally {
      client.release(broken);
    }
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}

export interface Snapshot {
  query<R extends pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<R[]>;
}

export interface SourceColumn {
  readonly name: string;
  /** `format_type` with modifiers. */
  readonly type: string;
  /** pg_type.typcategory: N numeric, S string, D date/time, B boolean, … */
  readonly typcategory: string;
  /** Integer type (int2/int4/int8): what legacy ids must be. */
  readonly isInteger: boolean;
}

export interface SourceTable {
  readonly name: string;
  readonly columns: readonly SourceColumn[];
  /** A unique index on `id` alone (a primary key): legacy ids cannot repeat. */
  readonly uniqueId: boolean;
}

/** Whether `schema` exists, and its tables (and views) with their columns. */
export async function readSourceSchema(snap: Snapshot, schema: string): Promise<{ exists: boolean; tables: Map<string, SourceTable> }> {
  const rows = await snap.query<{
    table: string | null; name: string | null; type: string | null; typcategory: string | null; is_integer: boolean | null; unique_id: boolean | null;
  }>(
    `select c.relname as "table", a.attname as name, format_type(a.atttypid, a.atttypmod) as type, t.typcategory,
            a.atttypid in ('int2'::regtype, 'int4'::regtype, 'int8'::regtype) as is_integer,
            exists (select 1 from pg_index i join pg_attribute ia on ia.attrelid = i.indrelid and ia.attnum = i.indkey[0]
                     where i.indrelid = c.oid and i.indisunique and i.indnkeyatts = 1 and i.indpred is null and ia.attname = 'id') as unique_id
       from pg_namespace n
       left join pg_class c on c.relnamespace = n.oid and c.relkind in ('r', 'p', 'v', 'm', 'f')
       left join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
       left join pg_type t on t.oid = a.atttypid
      where n.nspname = $1
      order by c.relname, a.attnum`,
    [schema],
  );
  const tables = new Map<string, SourceTable>();
  for (const r of rows) {
    if (r.table === null || r.name === null) continue;
    let t = tables.get(r.table);
    if (!t) tables.set(r.table, (t = { name: r.table, columns: [], uniqueId: r.unique_id! }));
    (t.columns as SourceColumn[]).push({ name: r.name, type: r.type!, typcategory: r.typcategory!, isInteger: r.is_integer! });
  }
  return { exists: rows.length > 0, tables };
}
