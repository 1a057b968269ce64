import { Migration } from '@mikro-orm/migrations';
import { APP_ROLE } from '../db/roles.js';

/** The table rate-limiter-flexible's Postgres store keeps its counters in (src/server/rateLimit.ts). */
export const RATE_LIMIT_TABLE = 'rate_limit';

/**
 * Rate-limit counters shared by every server process. Not tenant data: a key is a string such as
 * `client:user:<id>` or `tenant:<id>`, and a row only says how many operations it made in its window.
 * The columns are the ones the library reads and writes (it would create them itself, but the app role
 * may create nothing); `expire` is epoch milliseconds, rows past it are reused or swept by the library.
 * Unlogged: a counter update writes no WAL and waits for no flush (measured in bench/README.md: a
 * logged table made a small operation ×1.9–2.2 slower, unlogged ×1.3); after a crash of Postgres (not
 * a clean restart) the counters start over, which costs a rate limit nothing that matters.
 */
export class Migration20261201000000RateLimit extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create unlogged table "${RATE_LIMIT_TABLE}" (
      "key" varchar(255) primary key,
      "points" integer not null default 0,
      "expire" bigint);`);
    this.addSql(`grant select, insert, update, delete on "${RATE_LIMIT_TABLE}" to ${APP_ROLE};`);
  }
}
