import { Migration } from '@mikro-orm/migrations';
import { APP_ROLE, PLATFORM_ROLE, TENANT_SETTING } from '../db/roles.js';

/** The stored answers of mutations sent with an Idempotency-Key (src/idempotency). */
export const IDEMPOTENCY_TABLE = 'idempotency_key';

/**
 * One row per (tenant, user, key): a hash of the request it answered and the answer, written in the
 * transaction of the mutation's own writes, so either both are there or neither is. Rows expire after
 * 24 hours and are deleted lazily (src/idempotency/sql.ts).
 *
 * Tenant data like Init's tables: keys leading with `tenant_id`, rows going with their tenant, RLS
 * forced with the same two policies (spelled out here: a migration must not change when a later one's
 * helper does). `user_id` has no foreign key: `user` is a shared table, and a deleted user's rows
 * expire within a day.
 */
export class Migration20261210000000IdempotencyKeys extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create table "${IDEMPOTENCY_TABLE}" (
      "tenant_id" uuid not null,
      "id" uuid not null default gen_random_uuid(),
      "user_id" uuid not null,
      "key" varchar(255) not null,
      "request_hash" bytea not null,
      "response" json not null,
      "created_at" timestamptz not null default now(),
      "expires_at" timestamptz not null,
      primary key ("tenant_id", "id"));`);
    this.addSql(`create unique index "${IDEMPOTENCY_TABLE}_tenant_id_user_id_key_unique" on "${IDEMPOTENCY_TABLE}" ("tenant_id", "user_id", "key");`);
    this.addSql(`create index "${IDEMPOTENCY_TABLE}_tenant_id_expires_at_index" on "${IDEMPOTENCY_TABLE}" ("tenant_id", "expires_at");`);
    this.addSql(`alter table "${IDEMPOTENCY_TABLE}" add constraint "${IDEMPOTENCY_TABLE}_tenant_id_foreign" foreign key ("tenant_id") references "tenant" ("id") on update no action on delete cascade;`);

    this.addSql(`grant select, insert, update, delete on "${IDEMPOTENCY_TABLE}" to ${APP_ROLE}, ${PLATFORM_ROLE};`);
    this.addSql(`alter table "${IDEMPOTENCY_TABLE}" enable row level security;`);
    this.addSql(`alter table "${IDEMPOTENCY_TABLE}" force row level security;`);
    this.addSql(`create policy "${IDEMPOTENCY_TABLE}_tenant_isolation" on "${IDEMPOTENCY_TABLE}" to ${APP_ROLE} using ("tenant_id" = current_setting('${TENANT_SETTING}')::uuid) with check ("tenant_id" = current_setting('${TENANT_SETTING}')::uuid);`);
    this.addSql(`create policy "${IDEMPOTENCY_TABLE}_platform_access" on "${IDEMPOTENCY_TABLE}" to ${PLATFORM_ROLE} using (true) with check (true);`);
  }
}
