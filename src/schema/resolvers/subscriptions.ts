import type { EntityManager } from '@mikro-orm/postgresql';
import { Arg, ID, Resolver, Root, Subscription, type SubscribeResolverData } from 'type-graphql';
import type { Principal } from '../../auth/accessToken.js';
import { currentPrincipal } from '../../context/currentState.js';
import type { RequestContext } from '../../context/requestContext.js';
import { isGone, TenantStatus } from '../../entities/Tenant.js';
import { Role } from '../../entities/User.js';
import { AppError, notFound } from '../../errors.js';
import { asPlatform } from '../../filters/platform.js';
import { Snapshot } from '../../jobs/snapshot.js';
import type { TenantEvent, TenantResync, TenantStatusChange } from '../../jobs/tenantEvents.js';
import { requireUser } from '../guards.js';
import { TenantStatusEventType } from '../types.js';
import { CURRENT_SNAPSHOT, TENANT_STATUS, TENANT_STATUS_CANDIDATES } from '../sql.js';
import * as v from '../validation.js';

interface StatusEvent {
  tenantId: string;
  status: TenantStatus;
  error: string | null;
  at: Date;
}

/**
 * How far before a lost listening connection was noticed (or before it started) an all-tenants stream
 * looks for new tenants it may have missed: more than the probe interval and timeout of TenantEvents
 * (20 s), plus clock skew between the hosts that stamp `created_at`.
 */
const RESYNC_LOOKBACK_MS = 60_000;

@Resolver()
export class SubscriptionResolver {
  @Subscription(() => TenantStatusEventType, {
    subscribe: ({ args, context }: SubscribeResolverData<unknown, { tenantId?: string }, RequestContext>) => tenantStatusStream(context, args.tenantId),
    description:
      "First event: the current status, at once; then every change, from any process. Tenant users: their own tenant. Superadmins: the given tenant, or every tenant when omitted (no first event).",
  })
  tenantStatusChanged(@Root() event: StatusEvent, @Arg('tenantId', () => ID, { nullable: true }) _tenantId?: string): StatusEvent {
    return event;
  }
}

/** Decides which tenant(s) the caller may watch, then streams their status events. */
async function tenantStatusStream(ctx: RequestContext, requested: string | undefined | null): Promise<AsyncIterable<StatusEvent>> {
  const principal = requireUser(ctx);
  const superadmin = principal.role === Role.SUPERADMIN;
  let tenantId: string | undefined;
  if (superadmin) {
    tenantId = requested == null ? undefined : v.id(requested, 'tenantId');
  } else {
    const own = principal.tenantId!;
    if (requested != null && requested.toLowerCase() !== own) throw new AppError('TENANT_MISMATCH', 'You can only watch your own tenant');
    tenantId = own;
  }
  if (superadmin) {
    // Watching tenants from the platform is a cross-tenant read: audited like the `tenants` query (the
    // escape hatch's own audit event is the record; the stream itself reads only the shared tenant table).
    await asPlatform(ctx.services.orm, { action: 'tenant.watchStatus', actorId: principal.userId, tenantId: tenantId ?? null, target: tenantId ? null : 'all' }, async () => undefined);
  }
  const em = ctx.services.orm.em.fork({ clear: true }) as EntityManager;
  if (tenantId === undefined) return watchAll(ctx, em);
  return watchOne(ctx, em, tenantId, superadmin ? undefined : principal);
}

/** Whether the watcher's role or active flag is no longer what their stream started with. */
async function watcherChanged(ctx: RequestContext, watcher: Principal): Promise<boolean> {
  try {
    const now = await currentPrincipal(ctx.services.orm, { ...watcher, tenantId: watcher.tenantId! });
    return now.role !== watcher.role;
  } catch (err) {
    if (err instanceof AppError && err.code === 'UNAUTHENTICATED') return true;
    throw err;
  }
}

interface StatusRow {
  id: string;
  status: TenantStatus;
  status_error: string | null;
  is_active: boolean;
  snap: string;
}

/** The tenant's status and the snapshot it was read in (one statement: one snapshot). */
async function readOne(em: EntityManager, tenantId: string): Promise<{ row: StatusRow; snapshot: Snapshot } | null> {
  const [row] = await em.execute<StatusRow[]>(TENANT_STATUS, [tenantId]);
  return row ? { row, snapshot: Snapshot.parse(row.snap) } : null;
}

/**
 * Tenants an all-tenants stream must (re)check: every one not READY, the `ids` it knows as not READY
 * (READY is final, so these are the only known ones that can have changed), and those created since
 * `since`. With the snapshot of the statement when at least one row came back.
 */
async function readCandidates(em: EntityManager, ids: string[], since: Date | null): Promise<{ rows: StatusRow[]; snapshot?: Snapshot }> {
  const rows = await em.execute<StatusRow[]>(TENANT_STATUS_CANDIDATES, [`{${ids.join(',')}}`, since]);
  if (rows.length > 0) return { rows, snapshot: Snapshot.parse(rows[0].snap) };
  const [{ snap }] = await em.execute<{ snap: string }[]>(CURRENT_SNAPSHOT);
  return { rows, snapshot: Snapshot.parse(snap) };
}

const rowEvent = (row: StatusRow): StatusEvent => ({ tenantId: row.id, status: row.status, error: row.status_error, at: new Date() });
const toStatusEvent = (e: TenantStatusChange): StatusEvent => ({ tenantId: e.tenantId, status: e.status, error: e.error, at: new Date(e.at) });
const stateKey = (e: { status: TenantStatus; error: string | null }) => `${e.status}\u0000${e.error ?? ''}`;

/**
 * One tenant: the current status first, then each change in commit order. The bus subscription is
 * taken *before* the first read, so a change committed between the read and the subscription cannot
 * slip through; changes the read already reflects (their transaction is visible in its snapshot) are
 * dropped, so a late NOTIFY never replays an older status after a newer one. After a lost listening
 * connection the status is re-read the same way and sent if it differs from the last one sent.
 *
 * A tenant user's stream (`watcher`) ends when the tenant is deactivated, and when the watcher's own
 * role or active flag changes (a `user` event; after a lost connection, by re-reading the user): they
 * resubscribe as what they now are, or not at all.
 */
async function watchOne(ctx: RequestContext, em: EntityManager, tenantId: string, watcher?: Principal): Promise<AsyncIterable<StatusEvent>> {
  const endOnDeactivation = watcher !== undefined;
  const queue = new EventQueue<StatusEvent>();
  let last = '';
  const gate = new SnapshotGate((event, stale) => {
    if (stale) return;
    last = stateKey(event);
    queue.push(toStatusEvent(event));
    // An erased tenant's users are gone with it: their stream ends after telling them.
    if (endOnDeactivation && isGone(event.status)) queue.end();
  });

  const resync = async () => {
    const ticket = gate.hold();
    try {
      if (watcher && (await watcherChanged(ctx, watcher))) return queue.end();
      const read = await readOne(em, tenantId);
      if (!read) return queue.end();
      gate.release(ticket, read.snapshot, () => {
        const current = rowEvent(read.row);
        if (stateKey(current) !== last) {
          last = stateKey(current);
          queue.push(current);
        }
        if (endOnDeactivation && !read.row.is_active) queue.end();
      });
    } catch (err) {
      queue.fail(err);
    }
  };

  const unsubscribe = ctx.services.events.subscribe((event: TenantEvent | TenantResync) => {
    if (event.type === 'resync') return void resync();
    if (event.type === 'active') {
      if (endOnDeactivation && !event.isActive) queue.end();
      return;
    }
    if (event.type === 'user') {
      if (event.userId === watcher?.userId) queue.end();
      return;
    }
    if (event.type === 'status') gate.offer(event);
  }, tenantId);

  const ticket = gate.hold();
  let first: Awaited<ReturnType<typeof readOne>>;
  try {
    first = await readOne(em, tenantId);
  } catch (err) {
    unsubscribe();
    throw err;
  }
  if (!first) {
    unsubscribe();
    throw notFound('Tenant');
  }
  const { row, snapshot } = first;
  gate.release(ticket, snapshot, () => {
    const current = rowEvent(row);
    last = stateKey(current);
    queue.push(current);
    if (endOnDeactivation && !row.is_active) queue.end();
  });
  return queue.iterate(unsubscribe);
}

/**
 * Every tenant's changes (superadmins): no first event. The stream remembers the last state it knows
 * of each tenant (loaded silently at the start for those not READY, then from events), so that after a
 * lost listening connection it can re-read every tenant not READY, the known ones that were not, and
 * those created recently, and send whatever differs from what it knew.
 */
function watchAll(ctx: RequestContext, em: EntityManager): AsyncIterable<StatusEvent> {
  const queue = new EventQueue<StatusEvent>();
  const known = new Map<string, { status: TenantStatus; key: string }>();
  const remember = (tenantId: string, e: { status: TenantStatus; error: string | null }) => known.set(tenantId, { status: e.status, key: stateKey(e) });
  let caughtUp = false;
  const gate = new SnapshotGate((event, stale) => {
    // Before the first resync nothing was read for the client, so even a change the silent start-up
    // read already saw is delivered; after a resync, the re-read has already sent it.
    if (stale && caughtUp) return;
    if (!stale) remember(event.tenantId, event);
    queue.push(toStatusEvent(event));
  });

  const read = async (since: Date | null) => {
    const ticket = gate.hold();
    try {
      const unsettled = [...known].filter(([, k]) => k.status !== TenantStatus.READY).map(([id]) => id);
      const { rows, snapshot } = await readCandidates(em, unsettled, since);
      gate.release(ticket, snapshot, () => {
        for (const row of rows) {
          const current = rowEvent(row);
          if (since !== null && known.get(row.id)?.key !== stateKey(current)) queue.push(current);
          remember(row.id, current);
        }
        if (since !== null) caughtUp = true;
      });
    } catch (err) {
      queue.fail(err);
    }
  };

  // Tenants created before the stream started and unknown to it were READY then (the start-up read
  // knows every other one), so the recent-creations part of a resync never needs to look further back.
  const startedAt = Date.now();
  const unsubscribe = ctx.services.events.subscribe((event: TenantEvent | TenantResync) => {
    if (event.type === 'resync') return void read(new Date(Math.max(event.lostAt.getTime(), startedAt) - RESYNC_LOOKBACK_MS));
    if (event.type === 'status') gate.offer(event);
  });
  void read(null);
  return queue.iterate(unsubscribe);
}

/**
 * Orders the bus's events against reads of the database. While a read is in flight (`hold`), events
 * are held; `release` runs the read's own effects first, then lets the held events through, marking
 * as `stale` those whose transaction the read's snapshot already saw. Once an event arrives that the
 * snapshot did not see, every later one is newer still (Postgres delivers notifications in commit
 * order), so the snapshot is dropped. Overlapping reads: only the latest one releases.
 */
class SnapshotGate {
  private held?: TenantStatusChange[];
  private snapshot?: Snapshot;
  private ticket = 0;

  constructor(private readonly deliver: (event: TenantStatusChange, stale: boolean) => void) {}

  hold(): number {
    this.held ??= [];
    return ++this.ticket;
  }

  release(ticket: number, snapshot: Snapshot | undefined, effects: () => void): void {
    if (ticket !== this.ticket) return; // a newer read is in flight: it releases
    effects();
    this.snapshot = snapshot;
    const held = this.held ?? [];
    this.held = undefined;
    for (const event of held) this.pass(event);
  }

  offer(event: TenantStatusChange): void {
    if (this.held) this.held.push(event);
    else this.pass(event);
  }

  private pass(event: TenantStatusChange): void {
    if (this.snapshot && event.xid && this.snapshot.sees(event.xid)) return this.deliver(event, true);
    this.snapshot = undefined;
    this.deliver(event, false);
  }
}

/**
 * A push-to-pull bridge: events pushed by the bus, pulled by graphql-ws. The bus subscription is
 * released exactly once, however the stream ends (client stop, `end`, `fail`).
 */
export class EventQueue<T> {
  private readonly items: T[] = [];
  private waiting?: { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void };
  private done = false;
  private error: unknown;
  private cleanup?: () => void;

  push(item: T): void {
    if (this.done) return;
    if (this.waiting) {
      const { resolve } = this.waiting;
      this.waiting = undefined;
      resolve({ value: item, done: false });
    } else this.items.push(item);
  }

  /** No more events: those queued are still delivered, then the stream completes. */
  end(): void {
    this.done = true;
    if (this.waiting && this.items.length === 0) {
      this.waiting.resolve({ value: undefined, done: true });
      this.waiting = undefined;
      this.close();
    }
  }

  fail(err: unknown): void {
    if (this.done) return;
    this.done = true;
    this.items.length = 0;
    if (this.waiting) {
      this.waiting.reject(err);
      this.waiting = undefined;
      this.close();
    } else this.error = err;
  }

  iterate(cleanup: () => void): AsyncIterableIterator<T> {
    this.cleanup = cleanup;
    const finish = (): Promise<IteratorResult<T>> => {
      this.done = true;
      this.items.length = 0;
      this.close();
      return Promise.resolve({ value: undefined, done: true });
    };
    const iterator: AsyncIterableIterator<T> = {
      next: () => {
        if (this.items.length > 0) return Promise.resolve({ value: this.items.shift()!, done: false });
        if (this.error !== undefined) {
          const err = this.error;
          this.error = undefined;
          this.close();
          return Promise.reject(err);
        }
        if (this.done) return finish();
        return new Promise((resolve, reject) => (this.waiting = { resolve, reject }));
      },
      return: finish,
      throw: (err) => finish().then(() => Promise.reject(err)),
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  private close(): void {
    const cleanup = this.cleanup;
    this.cleanup = undefined;
    cleanup?.();
  }
}
