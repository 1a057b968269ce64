import type { EntityManager } from '@mikro-orm/postgresql';
import pg from 'pg';
import type { Logger } from 'pino';
import type { TenantStatus } from '../entities/Tenant.js';
import { LISTEN_TENANT_EVENTS, NOTIFY_TENANT_EVENT, PING, TENANT_EVENTS_CHANNEL } from './sql.js';

export interface TenantStatusChange {
  readonly type: 'status';
  readonly tenantId: string;
  readonly status: TenantStatus;
  readonly error: string | null;
  readonly at: string;
  /** Id of the transaction that made the change: lets a reader drop events its snapshot already shows. */
  readonly xid?: string;
}

export interface TenantActiveChange {
  readonly type: 'active';
  readonly tenantId: string;
  readonly isActive: boolean;
}

/** A user's role or active flag changed: their open subscriptions end (they resubscribe as they now are). */
export interface TenantUserChange {
  readonly type: 'user';
  readonly tenantId: string;
  readonly userId: string;
}

/** An export's status or progress changed (src/lifecycle): `tenantExportProgress` subscribers follow it. */
export interface TenantExportChange {
  readonly type: 'export';
  readonly tenantId: string;
  readonly exportId: string;
}

/** Small by design: ids and a status, far below NOTIFY's 8000-byte limit. */
export type TenantEvent = TenantStatusChange | TenantActiveChange | TenantUserChange | TenantExportChange;

/**
 * Sent to every listener after the listening connection was lost and regained: events committed while
 * it was down were never delivered, so listeners re-read what they follow. `lostAt` is when the
 * connection was found dead (events may have been missed since a little before).
 */
export interface TenantResync {
  readonly type: 'resync';
  readonly lostAt: Date;
}

export type TenantEventListener = (event: TenantEvent | TenantResync) => void;

export interface TenantEventsOptions {
  /** How often the idle listening connection is probed (a dead TCP peer sends no error). */
  readonly pingIntervalMs?: number;
  /** A probe unanswered this long counts as a lost connection. */
  readonly pingTimeoutMs?: number;
}

/**
 * Tenant events across processes through Postgres LISTEN/NOTIFY. Publishing is a `pg_notify` inside
 * the caller's transaction, so an event is delivered exactly when the change it describes commits, and
 * Postgres delivers notifications in commit order. Each process holds one listening connection and
 * fans events out in memory (indexed by tenant, so an event costs its own tenant's subscribers plus the
 * all-tenant ones, not every subscriber of the process). If that connection drops, or stops answering
 * the periodic probe, it reconnects with backoff and tells every listener to `resync`.
 */
export class TenantEvents {
  private readonly byTenant = new Map<string, Set<TenantEventListener>>();
  private readonly everyTenant = new Set<TenantEventListener>();
  private client?: pg.Client;
  private stopped = false;
  private retryTimer?: NodeJS.Timeout;
  private pingTimer?: NodeJS.Timeout;
  private lostAt?: Date;
  private readonly pingIntervalMs: number;
  private readonly pingTimeoutMs: number;

  constructor(
    private readonly url: string,
    private readonly log: Logger,
    options: TenantEventsOptions = {},
  ) {
    this.pingIntervalMs = options.pingIntervalMs ?? 15_000;
    this.pingTimeoutMs = options.pingTimeoutMs ?? 5_000;
  }

  async start(): Promise<void> {
    await this.connect(false);
  }

  /** Queues the event in `em`'s transaction: listeners everywhere hear it when (and if) it commits. */
  static async publish(em: EntityManager, event: TenantEvent): Promise<void> {
    await em.execute(NOTIFY_TENANT_EVENT, [TENANT_EVENTS_CHANNEL, JSON.stringify(event)], 'run');
  }

  /**
   * `listener` hears `tenantId`'s events (every tenant's when omitted) and every `resync`.
   * Returns the unsubscribe function.
   */
  subscribe(listener: TenantEventListener, tenantId?: string): () => void {
    if (tenantId === undefined) {
      this.everyTenant.add(listener);
      return () => void this.everyTenant.delete(listener);
    }
    let set = this.byTenant.get(tenantId);
    if (!set) this.byTenant.set(tenantId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.byTenant.get(tenantId) === set) this.byTenant.delete(tenantId);
    };
  }

  /** Listeners currently registered (tests and metrics). */
  get listenerCount(): number {
    let n = this.everyTenant.size;
    for (const set of this.byTenant.values()) n += set.size;
    return n;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }


  /** True while the listening connection is up. */
  get connected(): boolean {
    return this.client !== undefined;
  }

  /** The backend pid of the listening connection (tests terminate it with `pg_terminate_backend`). */
  get backendPid(): number | undefined {
    return (this.client as (pg.Client & { processID?: number }) | undefined)?.processID;
  }

  private async connect(isReconnect: boolean, attempt = 0): Promise<void> {
    const client = new pg.Client({ connectionString: this.url, keepAlive: true, keepAliveInitialDelayMillis: 10_000 });
    client.on('notification', (msg) => {
      if (msg.channel !== TENANT_EVENTS_CHANNEL || !msg.payload) return;
      let event: TenantEvent;
      try {
        event = JSON.parse(msg.payload) as TenantEvent;
      } catch {
        this.log.warn({ payload: msg.payload }, 'ignoring malformed tenant event');
        return;
      }
      this.emit(event);
    });
    const onLost = (err?: Error) => {
      if (this.client !== client || this.stopped) return;
      this.client = undefined;
      this.lostAt = new Date();
      clearInterval(this.pingTimer);
      this.log.warn({ err }, 'tenant event connection lost; reconnecting');
      client.end().catch(() => undefined);
      this.scheduleReconnect(0);
    };
    client.on('error', onLost);
    client.on('end', () => onLost());
    try {
      await client.connect();
      await client.query(LISTEN_TENANT_EVENTS);
    } catch (err) {
      await client.end().catch(() => undefined);
      if (!isReconnect) throw err;
      this.log.warn({ err, attempt }, 'tenant event connection: reconnect failed');
      this.scheduleReconnect(attempt + 1);
      return;
    }
    if (this.stopped) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.pingTimer = setInterval(() => this.ping(client, onLost), this.pingIntervalMs);
    this.pingTimer.unref();
    if (isReconnect) {
      this.log.info('tenant event connection restored; listeners resync');
      this.emit({ type: 'resync', lostAt: this.lostAt ?? new Date() });
    }
  }

  private ping(client: pg.Client, onLost: (err?: Error) => void): void {
    const timeout = setTimeout(() => onLost(new Error('tenant event connection did not answer a probe')), this.pingTimeoutMs);
    client.query(PING).then(
      () => clearTimeout(timeout),
      (err: Error) => {
        clearTimeout(timeout);
        onLost(err);
      },
    );
  }

  private scheduleReconnect(attempt: number): void {
    if (this.stopped) return;
    const delay = Math.min(5_000, 100 * 2 ** attempt);
    this.retryTimer = setTimeout(() => void this.connect(true, attempt), delay);
  }

  private emit(event: TenantEvent | TenantResync): void {
    const targets =
      event.type === 'resync'
        ? [...this.everyTenant, ...[...this.byTenant.values()].flatMap((set) => [...set])]
        : [...this.everyTenant, ...(this.byTenant.get(event.tenantId) ?? [])];
    for (const listener of targets) {
      try {
        listener(event);
      } catch (err) {
        this.log.error({ err }, 'tenant event listener failed');
      }
    }
  }
}
