import pg from 'pg';
import type { Logger } from 'pino';
import { RateLimiterMemory, RateLimiterPostgres, RateLimiterRes } from 'rate-limiter-flexible';
import type { Config } from '../config.js';
import type { RequestIdentity } from '../context/requestContext.js';
import { AppError } from '../errors.js';
import { RATE_LIMIT_TABLE } from '../migrations/Migration20261201000000RateLimit.js';

const WINDOW_SECONDS = 60;

/**
 * Per-minute operation limits shared by every server process on the database (rate-limiter-flexible's
 * Postgres store: one atomic upsert per key and operation, in a table the migrations create):
 *
 * - per client: a signed-in user's operations wherever they come from, else those of one client address
 *   (`RATE_LIMIT_PER_MINUTE`);
 * - per tenant: the operations of all of one tenant's users together (`TENANT_RATE_LIMIT_PER_MINUTE`).
 *   Anonymous calls naming a tenant do not count against it: anyone could drain a tenant's budget so.
 *
 * The client key is consumed first and the tenant key only if the client is admitted, so a user over
 * their own limit cannot eat into their colleagues' allowance. A key over its limit is blocked in memory
 * until its window ends: refusing it again costs no round trip. When the database cannot be reached,
 * each process counts in memory instead (the insurance limiter) rather than refusing or admitting all.
 */
export class RateLimits {
  private constructor(
    private readonly pool: pg.Pool,
    private readonly perClient: RateLimiterPostgres | undefined,
    private readonly perTenant: RateLimiterPostgres | undefined,
  ) {}

  /** Undefined when both limits are off (0): then nothing is counted and no connection opened. */
  static create(config: Pick<Config, 'rateLimitPerMinute' | 'tenantRateLimitPerMinute'>, appUrl: string, log: Logger): RateLimits | undefined {
    if (config.rateLimitPerMinute <= 0 && config.tenantRateLimitPerMinute <= 0) return undefined;
    // A stalled database must not stall admission: past a second (to connect, or for the server to run
    // the upsert) the insurance limiter answers.
    const pool = new pg.Pool({ connectionString: appUrl, max: 4, connectionTimeoutMillis: 1000, statement_timeout: 1000 });
    pool.on('error', (err) => log.warn({ err }, 'rate limit connection lost'));
    const limiter = (keyPrefix: string, points: number) =>
      points > 0
        ? new RateLimiterPostgres({
            storeClient: pool,
            storeType: 'pool',
            tableName: RATE_LIMIT_TABLE,
            tableCreated: true,
            keyPrefix,
            points,
            duration: WINDOW_SECONDS,
            inMemoryBlockOnConsumed: points,
            insuranceLimiter: new RateLimiterMemory({ keyPrefix, points, duration: WINDOW_SECONDS }),
          })
        : undefined;
    return new RateLimits(pool, limiter('client', config.rateLimitPerMinute), limiter('tenant', config.tenantRateLimitPerMinute));
  }

  /** Counts one operation; RATE_LIMITED (with `retryAfter`, seconds) when the caller is over a limit. */
  async admit(identity: RequestIdentity): Promise<AppError | null> {
    const { principal } = identity;
    return (
      (await consume(this.perClient, principal ? `user:${principal.userId}` : `ip:${identity.address}`)) ??
      (principal?.tenantId ? await consume(this.perTenant, principal.tenantId) : null)
    );
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}

async function consume(limiter: RateLimiterPostgres | undefined, key: string): Promise<AppError | null> {
  if (!limiter) return null;
  try {
    await limiter.consume(key);
    return null;
  } catch (err) {
    // Store errors are answered by the insurance limiter; a rejection here is a refusal.
    if (!(err instanceof RateLimiterRes)) throw err;
    const retryAfter = Math.max(1, Math.ceil(err.msBeforeNext / 1000));
    return new AppError('RATE_LIMITED', 'Too many requests', { retryAfter });
  }
}
