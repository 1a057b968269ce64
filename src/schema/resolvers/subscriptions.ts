import type { EntityManager } from '@mikro-orm/postgresql';
import { Arg, ID, Resolver, Root, Subscription, type SubscribeResolverData } from 'type-graphql';
import type { RequestContext } from '../../context/requestContext.js';
import { TenantStatus } from '../../entities/Tenant.js';
import { Role } from '../../entities/User.js';
import { AppError, notFound } from '../../errors.js';
import { Snapshot } from '../../jobs/snapshot.js';
import type { TenantEvent, TenantStatusChange } from '../../jobs/tenantEvents.js';
import { requireUser } from '../guards.js';
import { TenantStatusEventType } from '../types.js';
import * as v from '../validation.js';

interface StatusEvent {
  tenantId: string;
  status: TenantStatus;
  error: string | null;
  at: Date;
}

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
async function tenantStatusStream(ctx: RequestContext, requested: string | undefined): Promise<AsyncIterable<StatusEvent>> {
  const principal = requireUser(ctx);
  let tenantId: string | undefined;
  if (principal.role === Role.SUPERADMIN) {
    tenantId = requested === undefined || requested === null ? undefined : v.id(requested, 'tenantId');
  } else {
    const own = principal.tenantId!;
    if (requested != null && requested.toLowerCase() !== own) throw new AppError('TENANT_MISMATCH', 'You can only watch your own tenant');
    tenantId = own;
  }
  const em = ctx.services.orm.em.fork({ clear: true }) as EntityManager;
  if (tenantId === undefined) return watchAll(ctx);
  const current = await readStatus(em, tenantId);
  if (!current) throw notFound('Tenant');
  return watchOne(ctx, em, tenantId, principal.role !== Role.SUPERADMIN, current);
}

interface StatusRead {
  event: StatusEvent;
  snapshot: Snapshot;
  isActive: boolean;
}

async function readStatus(em: EntityManager, tenantId: string): Promise<StatusRead | null> {
  const [row] = await em.execute<{ status: TenantStatus; status_error: string | null; is_active: boolean; snap: string }[]>(
    'select status, status_error, is_active, pg_current_snapshot()::text as snap from tenant where id = ?',
    [tenantId],
  );
  if (!row) return null;
  return {
    event: { tenantId, status: row.status, error: row.status_error, at: new Date() },
    snapshot: Snapshot.parse(row.snap),
    isActive: row.is_active,
  };
}

const toStatusEvent = (e: TenantStatusChange): StatusEvent => ({ tenantId: e.tenantId, status: e.status, error: e.error, at: new Date(e.at) });

/**
 * One tenant: the current status first, then each change in commit order. Events the first read
 * already reflects (their transaction is visible in its snapshot) are dropped, so a late NOTIFY can
 * never replay an older status after a newer one. A tenant user's stream ends when the tenant is
 * deactivated. After a lost listening connection, the status is re-read and sent if it changed.
 */
function watchOne(ctx: RequestContext, em: EntityManager, tenantId: string, endOnDeactivation: boolean, first: StatusRead): AsyncIterable<StatusEvent> {
  let snapshot: Snapshot | undefined = first.snapshot;
  let last = first.event.status;
  const queue = new EventQueue<StatusEvent>();
  queue.push(first.event);
  if (endOnDeactivation && !first.isActive) queue.end();
  const unsubscribe = ctx.services.events.subscribe((event) => {
    if (event.type === 'resync') {
      void readStatus(em, tenantId).then((read) => {
        if (!read) return queue.end();
        snapshot = read.snapshot;
        if (read.event.status !== last) {
          last = read.event.status;
          queue.push(read.event);
        }
      }, (err) => queue.fail(err));
      return;
    }
    if (event.tenantId !== tenantId) return;
    if (event.type === 'active') {
      if (endOnDeactivation && !event.isActive) queue.end();
      return;
    }
    if (snapshot && event.xid && snapshot.sees(event.xid)) return;
    snapshot = undefined; // once a newer event arrived, later ones are newer still
    last = event.status;
    queue.push(toStatusEvent(event));
  });
  return queue.iterate(unsubscribe);
}

/** Every tenant's changes (superadmins): no first event. */
function watchAll(ctx: RequestContext): AsyncIterable<StatusEvent> {
  const queue = new EventQueue<StatusEvent>();
  const unsubscribe = ctx.services.events.subscribe((event: TenantEvent | { type: 'resync' }) => {
    if (event.type === 'status') queue.push(toStatusEvent(event));
  });
  return queue.iterate(unsubscribe);
}

/** A push-to-pull bridge: events pushed by the bus, pulled by graphql-ws; cleanup on return. */
class EventQueue<T> {
  private readonly items: T[] = [];
  private waiting?: { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void };
  private done = false;
  private error: unknown;

  push(item: T): void {
    if (this.done) return;
    if (this.waiting) {
      const { resolve } = this.waiting;
      this.waiting = undefined;
      resolve({ value: item, done: false });
    } else this.items.push(item);
  }

  end(): void {
    this.done = true;
    if (this.waiting && this.items.length === 0) {
      this.waiting.resolve({ value: undefined, done: true });
      this.waiting = undefined;
    }
  }

  fail(err: unknown): void {
    this.error = err;
    this.done = true;
    this.waiting?.reject(err);
    this.waiting = undefined;
  }

  iterate(cleanup: () => void): AsyncIterableIterator<T> {
    const finish = (): Promise<IteratorResult<T>> => {
      this.done = true;
      this.items.length = 0;
      cleanup();
      return Promise.resolve({ value: undefined, done: true });
    };
    const iterator: AsyncIterableIterator<T> = {
      next: () => {
        if (this.items.length > 0) return Promise.resolve({ value: this.items.shift()!, done: false });
        if (this.error) return Promise.reject(this.error);
        if (this.done) return finish();
        return new Promise((resolve, reject) => (this.waiting = { resolve, reject }));
      },
      return: finish,
      throw: (err) => finish().then(() => Promise.reject(err)),
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }
}
