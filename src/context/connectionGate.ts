import { rateLimited, serviceUnavailable } from '../errors.js';

export interface ConnectionGateOptions {
  /** Units of work one key (a tenant) may run at once. */
  readonly perKey: number;
  /** Units of work the process runs at once, whatever their key. */
  readonly total: number;
  /** Longest wait for a slot; 0 waits for ever. */
  readonly maxWaitMs: number;
}

interface Waiter {
  readonly key: string;
  readonly admit: () => void;
}

/** Seconds a refused caller is told to wait: a slot frees up as soon as any unit of work ends. */
const RETRY_AFTER_SECONDS = 1;

/**
 * Admission in front of the unit of work, which holds one pooled connection for its whole transaction:
 * at most `perKey` units of work per tenant and `total` in all run at once; the others wait here, in
 * arrival order, holding nothing but a promise. So one tenant can occupy only its share of the pool
 * however much it sends, and a burst queues cheaply here instead of in the pool, where every waiter
 * would be admitted at once as connections free up and compete for the event loop.
 *
 * A caller that waited `maxWaitMs` is refused: RATE_LIMITED when its own tenant's share was what kept
 * it waiting, SERVICE_UNAVAILABLE when the whole process was busy. Both carry `retryAfter`.
 *
 * Hand-written rather than p-limit/p-queue: those limit one queue; this needs a per-key limit and a
 * global one over a single FIFO, where a tenant at its limit does not hold up the tenants behind it.
 */
export class ConnectionGate {
  private readonly runningPerKey = new Map<string, number>();
  private runningTotal = 0;
  /** In arrival order. Invariant: after every change, no waiter here could be admitted. */
  private readonly queue: Waiter[] = [];
  /** Waiters past `maxWaitMs`, to be refused (see `refuse`). */
  private readonly refusals: (() => void)[] = [];

  constructor(private readonly options: ConnectionGateOptions) {
    if (options.perKey < 1 || options.total < 1) throw new Error('ConnectionGate limits must be at least 1');
  }

  /** Units of work running now. */
  get running(): number {
    return this.runningTotal;
  }

  /** Units of work waiting for a slot now. */
  get waiting(): number {
    return this.queue.length;
  }

  /** Runs `fn` once `key` has a slot; the slot is released when `fn` settles. */
  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    await this.enter(key);
    try {
      return await fn();
    } finally {
      this.leave(key);
    }
  }

  private runningFor(key: string): number {
    return this.runningPerKey.get(key) ?? 0;
  }

  private enter(key: string): Promise<void> {
    // By the invariant, a key that can go now overtakes no one who could.
    if (this.canAdmit(key)) {
      this.take(key);
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const timer =
        this.options.maxWaitMs > 0
          ? setTimeout(() => {
              this.queue.splice(this.queue.indexOf(waiter), 1);
              const error =
                this.runningFor(key) >= this.options.perKey
                  ? rateLimited('Too many requests of this tenant are running at once; retry shortly', RETRY_AFTER_SECONDS)
                  : serviceUnavailable('The server is busy; retry shortly', RETRY_AFTER_SECONDS);
              this.refuse(() => reject(error));
            }, this.options.maxWaitMs)
          : undefined;
      const waiter: Waiter = {
        key,
        admit: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      this.queue.push(waiter);
    });
  }

  private leave(key: string): void {
    const left = this.runningFor(key) - 1;
    if (left > 0) this.runningPerKey.set(key, left);
    else this.runningPerKey.delete(key);
    this.runningTotal--;
    // The first waiters that fit, in arrival order: those of a key at its limit are skipped, not blocking.
    for (let i = 0; i < this.queue.length && this.runningTotal < this.options.total; ) {
      const waiter = this.queue[i];
      if (!this.canAdmit(waiter.key)) {
        i++;
        continue;
      }
      this.queue.splice(i, 1);
      this.take(waiter.key);
      waiter.admit();
    }
  }

  /**
   * Refusals go out one per turn of the event loop. Waiters that arrived in a burst time out together,
   * and answering them all in one go (each an error response through the whole pipeline) stalled the
   * process for most of a second (/healthz included); one per turn lets I/O in between.
   */
  private refuse(refusal: () => void): void {
    this.refusals.push(refusal);
    if (this.refusals.length > 1) return;
    const next = () => {
      this.refusals.shift()!();
      if (this.refusals.length > 0) setImmediate(next);
    };
    setImmediate(next);
  }

  private canAdmit(key: string): boolean {
    return this.runningTotal < this.options.total && this.runningFor(key) < this.options.perKey;
  }

  private take(key: string): void {
    this.runningPerKey.set(key, this.runningFor(key) + 1);
    this.runningTotal++;
  }
}
