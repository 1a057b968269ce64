import type pg from 'pg';

/**
 * Holds a tenant's order-counter row lock from the test (as the owner, in an open transaction), the
 * lock every `createOrder` of that tenant takes and keeps until its request ends. While it is held,
 * that tenant's orders wait inside their units of work, each holding a pooled connection.
 */
export async function holdCounterLock(owner: pg.Pool, tenantId: string): Promise<{ release(): Promise<void> }> {
  const client = await owner.connect();
  await client.query('begin');
  const { rowCount } = await client.query('select 1 from order_counter where tenant_id = $1 for update', [tenantId]);
  if (rowCount !== 1) throw new Error(`tenant ${tenantId} has no order counter`);
  return {
    release: async () => {
      await client.query('commit');
      client.release();
    },
  };
}

/** The app role's backends in this database now waiting for a lock. */
export async function appBackendsWaitingOnLocks(owner: pg.Pool): Promise<number> {
  const { rows } = await owner.query(
    `select count(*)::int as n from pg_stat_activity where datname = current_database() and usename = 'tenantry_app' and wait_event_type = 'Lock'`,
  );
  return rows[0].n;
}

/** Backends in this database now waiting for a lock, whatever role they run as. */
export async function backendsWaitingOnLocks(owner: pg.Pool): Promise<number> {
  const { rows } = await owner.query(`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`);
  return rows[0].n;
}

/** Polls until `count()` has stayed at one value for `stableMs` (at least `min`), and returns it. */
export async function settledCount(count: () => Promise<number>, min: number, stableMs = 500, timeoutMs = 15_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last = -1;
  let since = Date.now();
  for (;;) {
    const now = await count();
    if (now !== last) [last, since] = [now, Date.now()];
    if (now >= min && Date.now() - since >= stableMs) return now;
    if (Date.now() > deadline) throw new Error(`count did not settle at ${min} or more within ${timeoutMs} ms (last ${last})`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** `promise`, or a rejection naming `what` after `ms`. */
export function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
