import { ReflectMetadataProvider } from '@mikro-orm/decorators/legacy';
import { Migrator } from '@mikro-orm/migrations';
import { defineConfig, MikroORM, type Options } from '@mikro-orm/postgresql';
import type pg from 'pg';
import type { DatabaseLimits } from '../config.js';
import { ENTITIES } from '../entities/index.js';
import { TenantWriteGuard } from '../filters/writeGuard.js';
import { migrationsList } from '../migrations/index.js';
import { DeferredBeginClient, resetDeferredBeginOnCheckout } from './pgClient.js';
import { releaseDeadClients } from './pool.js';

export type Orm = MikroORM;

/** The one MikroORM configuration; callers vary only the connection and pool. */
export function ormConfig(clientUrl: string, { driverOptions, ...overrides }: Partial<Options> = {}): Options {
  return defineConfig({
    clientUrl,
    entities: ENTITIES,
    metadataProvider: ReflectMetadataProvider,
    subscribers: [new TenantWriteGuard()],
    extensions: [Migrator],
    migrations: { migrationsList, transactional: true, allOrNothing: true, snapshot: false, silent: true },
    // Every unit of work runs on an explicit fork bound to a request or job; the global EM is off limits.
    allowGlobalContext: false,
    // MikroORM joins a to-one relation's table so that table's filter applies to the reference. Our
    // relations are composite FKs that reuse the row's own tenant_id, so the referenced row is in the
    // same tenant by construction (and RLS guards it anyway): the join is pure cost.
    autoJoinRefsForFilters: false,
    forceUtcTimezone: true,
    ensureDatabase: false,
    pool: { min: 0, max: 10 },
    driverOptions: {
      // `begin` travels with the transaction's first statement (one round trip less per transaction).
      Client: DeferredBeginClient,
      ...driverOptions,
      onPoolCreated: (pool: pg.Pool) => {
        releaseDeadClients(pool);
        resetDeferredBeginOnCheckout(pool);
        driverOptions?.onPoolCreated?.(pool);
      },
    },
    ...overrides,
  });
}

export function createOrm(clientUrl: string, overrides: Partial<Options> = {}): Promise<Orm> {
  return MikroORM.init(ormConfig(clientUrl, overrides));
}

/**
 * The API server's pool: its size, how long a request waits for a connection (pg-pool's
 * `connectionTimeoutMillis`, which bounds both the wait in its queue and a new connection's handshake),
 * and session settings sent at connect that bound how long a request can hold one: a statement, a lock
 * wait, a transaction left idle. Only the server's ORM gets them (see `DatabaseLimits`).
 */
export function servingConnectionOptions(limits: DatabaseLimits): Partial<Options> {
  return {
    pool: { min: 0, max: limits.poolSize },
    driverOptions: {
      connectionTimeoutMillis: limits.acquireTimeoutMs,
      statement_timeout: limits.statementTimeoutMs,
      lock_timeout: limits.lockTimeoutMs,
      idle_in_transaction_session_timeout: limits.idleInTransactionTimeoutMs,
    },
  };
}
