import { IDEMPOTENCY_TABLE } from '../migrations/Migration20261210000000IdempotencyKeys.js';

/**
 * The SQL of idempotency keys. Every statement runs in the unit of work's transaction, whose tenant
 * setting RLS compares `tenant_id` with; each also names the tenant itself.
 */

/** How long a stored answer is replayed. */
export const KEY_RETENTION_HOURS = 24;

/**
 * First key of the advisory locks on idempotency keys. The two-integer form is a key space of its own,
 * apart from the single-bigint locks elsewhere (migrations, tests' template database).
 */
export const KEY_LOCK_SPACE = 7_236_010;

/**
 * Waits for any other transaction holding the same (tenant, user, key), then holds it until this
 * transaction ends: a concurrent duplicate waits here for the first to commit (or roll back). A hash
 * collision between keys only makes one wait for the other.
 * Params: lock space, tenant id, user id, key.
 */
export const LOCK_KEY = `select pg_advisory_xact_lock($1, hashtext($2::text || ':' || $3::text || ':' || $4::text))`;

/**
 * The live answer stored under (tenant, user, key), if any. Also deletes up to 10 of the tenant's
 * expired rows, oldest first, skipping rows another transaction holds: each keyed mutation clears more
 * than it adds, and no transaction waits for another's cleanup. The rows are picked once (`array(…)`,
 * on the (tenant_id, expires_at) index their order asks for) and joined to by their ctid. Written as
 * `("tenant_id", "id") in (…)`, the planner re-ran the pick for every row of the tenant while the table
 * had no statistics yet: 26 ms per keyed mutation at 300 rows, growing with each (the pages it reads
 * are checked in tests/idempotency/store.test.ts).
 * Params: tenant id, user id, key.
 */
export const FIND_ANSWER = `
  with expired as (
    delete from "${IDEMPOTENCY_TABLE}" as "k" using unnest(array(
      select "ctid" from "${IDEMPOTENCY_TABLE}"
       where "tenant_id" = $1 and "expires_at" <= now()
       order by "expires_at" limit 10 for update skip locked)) as "e"("tid")
     where "k"."ctid" = "e"."tid")
  select "request_hash", "response"::text as "response" from "${IDEMPOTENCY_TABLE}"
   where "tenant_id" = $1 and "user_id" = $2 and "key" = $3 and "expires_at" > now()`;

/**
 * Stores the answer. A row still there under the same key is an expired one (a live one was replayed
 * instead, under the lock): it is replaced.
 * Params: tenant id, user id, key, request hash, response (JSON text).
 */
export const SAVE_ANSWER = `
  insert into "${IDEMPOTENCY_TABLE}" ("tenant_id", "user_id", "key", "request_hash", "response", "expires_at")
  values ($1, $2, $3, $4, $5::json, now() + interval '${KEY_RETENTION_HOURS} hours')
  on conflict ("tenant_id", "user_id", "key") do update
    set "request_hash" = excluded."request_hash", "response" = excluded."response",
        "created_at" = now(), "expires_at" = excluded."expires_at"`;
