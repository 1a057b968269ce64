import { Migration } from '@mikro-orm/migrations';
import { APP_ROLE } from '../db/roles.js';

/** Postgres schema holding the pg-boss job queue. */
export const JOB_SCHEMA = 'pgboss';

/**
 * The job queue's schema. pg-boss creates and upgrades its own tables in it at start-up, as the app
 * role, so that role owns the queue's tables and nothing else: tenant tables stay owner-owned with RLS.
 */
export class Migration20261125001000JobQueue extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create schema if not exists ${JOB_SCHEMA};`);
    this.addSql(`grant usage, create on schema ${JOB_SCHEMA} to ${APP_ROLE};`);
  }
}
