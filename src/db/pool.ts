import type pg from 'pg';

/**
 * Gives a pooled client whose connection ended while checked out back to the pool, with an error so
 * the pool discards it.
 *
 * Kysely 0.29 (under MikroORM) releases a transaction's connection only after its COMMIT or ROLLBACK
 * succeeds (kysely-org/kysely#1990). When the connection died mid-transaction (Postgres restarted, the
 * backend terminated, the network cut, idle_in_transaction_session_timeout), ROLLBACK fails too, and
 * the dead client stayed checked out for good: the pool shrank by one per outage until every request
 * timed out waiting for a connection, and closing the ORM hung. Idle clients need nothing: pg-pool
 * drops those itself.
 */
export function releaseDeadClients(pool: pg.Pool): void {
  const checkedOut = new Set<pg.PoolClient>();
  pool.on('acquire', (client) => checkedOut.add(client));
  pool.on('release', (_err, client) => checkedOut.delete(client as pg.PoolClient));
  pool.on('connect', (client) => {
    client.on('end', () => {
      if (checkedOut.has(client as pg.PoolClient)) (client as pg.PoolClient).release(new Error('The connection to the database ended'));
    });
  });
}
