/** The SQL of sessions and accounts that MikroORM's queries do not express. `?` placeholders. */

/**
 * Holds a refresh-token family's lock until the transaction ends (an advisory lock keyed by a hash of
 * the family's id). Params: family id.
 */
export const LOCK_REFRESH_FAMILY = 'select pg_advisory_xact_lock(hashtextextended(?, 0))';
