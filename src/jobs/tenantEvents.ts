import type { EntityManager } from '@mikro-orm/postgresql';
import pg from 'pg';
import type { Logger } from 'pino';
import type { TenantStatus } from '../entities/Tenant.js';

/** Postgres channel carrying tenant events between processes. */
export const CHANNEL = 'tenantry_tenant_events';

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

/** Small by design: ids and a status, far below NOTIFY's 8000-byte limit. */
export type TenantEvent = TenantStatusChange | TenantActiveChange;

/** Called with each event, or with `resync` after the listening connection was lost and regained. */
export type TenantEventListener = (event: TenantEvent | { readonly type: 'resync' }) => void;

/**
 * Tenant events across processes through Postgres LISTEN/NOTIFY. Publishing is a `pg_notify` inside
 * the caller's transaction, so an event is delivered exactly when the change it describes commits.
 * Each process holds one listening connection and fans events out in memory; if that connection
 * drops it reconnects with backoff and tells listeners to `resync` (re-read what they may have missed).
 */
export class TenantEvents {
  private readonly listeners = new Set<TenantEventListener>();
  private client?: pg.Client;
  private stopped = false;
  private retryTimer?: NodeJS.Timeout;

  constructor(
    private readonly url: string,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    await this.connect(false);
  }

  static async publish(em: EntityManager, event: TenantEvent): Promise<void> {
    await em.execute(
      `select pg_notify(?, (?::jsonb || jsonb_build_object('xid', pg_current_xact_id()::text))::text)`,
      [CHANNEL, JSON.stringify(event)],
      'run',
    );
  }

  subscribe(listener: TenantEventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  /** Drops the listening connection as a network fault would (used by tests of the reconnect path). */
  simulateConnectionLoss(): void {
    this.client?.emit('error', new Error('simulated connection loss'));
  }

  /** True while the listening connection is up. */
  get connected(): boolean {
    return this.client !== undefined;
  }

  private async connect(isReconnect: boolean, attempt = 0): Promise<void> {
    const client = new pg.Client({ connectionString: this.url });
    client.on('notification', (msg) => {
      if (msg.channel !== CHANNEL || !msg.payload) return;
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
      this.log.warn({ err }, 'tenant event connection lost; reconnecting');
      client.end().catch(() => undefined);
      this.scheduleReconnect(0);
    };
    client.on('error', onLost);
    client.on('end', () => onLost());
    try {
      await client.connect();
      await client.query(`listen ${CHANNEL}`);
    } catch (err) {
      await client.end().catch(() => undefined);
      if (!isReconnect) throw err;
      this.scheduleReconnect(attempt + 1);
      return;
    }
    if (this.stopped) {
      await client.end();
      return;
    }
    this.client = client;
    if (isReconnect) this.emit({ type: 'resync' });
  }

  private scheduleReconnect(attempt: number): void {
    if (this.stopped) return;
    const delay = Math.min(5_000, 100 * 2 ** attempt);
    this.retryTimer = setTimeout(() => void this.connect(true, attempt), delay);
  }

  private emit(event: TenantEvent | { type: 'resync' }): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        this.log.error({ err }, 'tenant event listener failed');
      }
    }
  }
}
