import { isIP } from 'node:net';
import path from 'node:path';
import proxyAddr from 'proxy-addr';

/** Above the contract's floor: no client is limited below 1,000 requests per minute by default. */
export const DEFAULT_RATE_LIMIT_PER_MINUTE = 1200;

/** Everything the process reads from its environment, read once, in one place. */
export interface Config {
  readonly port: number;
  readonly nodeEnv: string;
  readonly production: boolean;
  /** Owner connection (migrations). Unset: the embedded Postgres in `dataDir`. */
  readonly databaseUrl?: string;
  /** App-role connection. Unset: `databaseUrl`'s server as the app role, password `appDbPassword`. */
  readonly appDatabaseUrl?: string;
  readonly appDbPassword?: string;
  readonly embeddedPgPort: number;
  readonly dataDir: string;
  readonly jwtSecret?: string;
  /** Tenants answer on `<slug>.<baseDomain>`; nothing at or under it can be a custom domain. */
  readonly baseDomain: string;
  /** Where `verifyDomain` looks up its TXT records. */
  readonly dns: DnsConfig;
  /** Created on start when both are set (SUPERADMIN_EMAIL + SUPERADMIN_PASSWORD). */
  readonly superadmin?: { readonly email: string; readonly password: string };
  /** Each alone: `create-superadmin` falls back to them for a missing flag. */
  readonly superadminEmail?: string;
  readonly superadminPassword?: string;
  /** Run the provisioning worker inside the server process. */
  readonly runWorker: boolean;
  /** Preparation jobs a worker process runs at once (pg-boss's pool holds this many connections + 3). */
  readonly workerConcurrency: number;
  readonly logLevel: string;
  readonly corsOrigins: string[] | true;
  /** argon2id cost: OWASP's baseline by default; tests lower it. */
  readonly passwordHashing: PasswordCost;
  /** Which proxies may set the client address (X-Forwarded-For): a hop count (0 = none) or addresses/CIDRs. */
  readonly trustProxy: number | readonly string[];
  /** GraphQL operations per minute per client (user, else IP), both transports; 0 = off. */
  readonly rateLimitPerMinute: number;
  /** GraphQL operations per minute of one tenant's users together; 0 = off. */
  readonly tenantRateLimitPerMinute: number;
  /** Open WebSockets per user (at connection_init) and per client address (at the upgrade); 0 = no cap. */
  readonly wsMaxSocketsPerUser: number;
  readonly wsMaxSocketsPerIp: number;
  /** Serve /metrics on this port instead of the API's. */
  readonly metricsPort?: number;
  /** Require `Authorization: Bearer <token>` on /metrics. */
  readonly metricsToken?: string;
  /** How long the API server's requests may wait for and hold database connections. */
  readonly database: DatabaseLimits;
  /** ACCESS_TOKEN_TTL, REFRESH_TOKEN_TTL. */
  readonly tokenLifetimes: TokenLifetimes;
  /** Tenant exports run by the API (src/lifecycle). */
  readonly exports: ExportConfig;
  /**
   * Export OpenTelemetry traces (src/tracing/sdk.ts): on only when the standard variables ask for an
   * exporter. The SDK reads the rest of them itself (endpoint, protocol, headers, service name, sampler,
   * propagators, batching).
   */
  readonly tracing: boolean;
}

/** How long a session's tokens live, in seconds. */
export interface TokenLifetimes {
  readonly accessSeconds: number;
  readonly refreshSeconds: number;
}

export interface ExportConfig {
  /** EXPORT_DIR: where export jobs write archives and the server reads them (shared by servers and workers). */
  readonly dir: string;
  /** EXPORT_RETENTION_HOURS: an export's archive is deleted this long after it was asked for. */
  readonly retentionHours: number;
  /** EXPORT_URL_TTL_SECONDS: how long a signed download URL works. */
  readonly urlTtlSeconds: number;
}

export interface DnsConfig {
  /** DNS_SERVERS, in `node:dns` `setServers` form; undefined: the system's resolvers. */
  readonly servers?: readonly string[];
  /** DNS_TIMEOUT_MS: a verification's lookup gives up after this long. */
  readonly timeoutMs: number;
}

export interface PasswordCost {
  readonly memoryKib: number;
  readonly timeCost: number;
}

/**
 * Bounds on the API server's app-role connections (src/db/orm.ts `servingConnectionOptions`) and on
 * each tenant's share of them (src/context/connectionGate.ts). Times in ms; 0 turns a timeout off.
 * The migrator and the standalone worker do not apply them: a long migration batch is no hung request.
 */
export interface DatabaseLimits {
  readonly poolSize: number;
  /** Longest wait for a connection: for the tenant's share of the pool, then for the pool itself. */
  readonly acquireTimeoutMs: number;
  readonly statementTimeoutMs: number;
  readonly lockTimeoutMs: number;
  readonly idleInTransactionTimeoutMs: number;
  /** Units of work one tenant may run at once in one process. */
  readonly tenantMaxConnections: number;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const nodeEnv = env.NODE_ENV ?? 'development';
  return {
    port: intOr(env.PORT, 4000),
    nodeEnv,
    production: nodeEnv === 'production',
    databaseUrl: env.DATABASE_URL || undefined,
    appDatabaseUrl: env.APP_DATABASE_URL || undefined,
    appDbPassword: env.APP_DB_PASSWORD || undefined,
    embeddedPgPort: intOr(env.EMBEDDED_PG_PORT, 54329),
    dataDir: path.resolve(env.DATA_DIR ?? '.data'),
    jwtSecret: env.JWT_SECRET || undefined,
    baseDomain: baseDomain(env.BASE_DOMAIN ?? 'localhost'),
    dns: {
      servers: env.DNS_SERVERS ? env.DNS_SERVERS.split(',').map((s) => dnsServer(s.trim())) : undefined,
      timeoutMs: atLeast('DNS_TIMEOUT_MS', intOr(env.DNS_TIMEOUT_MS, 5000), 100),
    },
    superadmin:
      env.SUPERADMIN_EMAIL && env.SUPERADMIN_PASSWORD
        ? { email: env.SUPERADMIN_EMAIL, password: env.SUPERADMIN_PASSWORD }
        : undefined,
    superadminEmail: env.SUPERADMIN_EMAIL || undefined,
    superadminPassword: env.SUPERADMIN_PASSWORD || undefined,
    runWorker: env.RUN_WORKER !== 'false',
    workerConcurrency: atLeast('WORKER_CONCURRENCY', intOr(env.WORKER_CONCURRENCY, 4), 1),
    logLevel: env.LOG_LEVEL ?? (nodeEnv === 'test' ? 'silent' : 'info'),
    corsOrigins: env.CORS_ORIGINS ? env.CORS_ORIGINS.split(',').map((o) => o.trim()) : true,
    passwordHashing: {
      memoryKib: atLeast('ARGON2_MEMORY_KIB', intOr(env.ARGON2_MEMORY_KIB, 19_456), 1024),
      timeCost: atLeast('ARGON2_TIME_COST', intOr(env.ARGON2_TIME_COST, 2), 1),
    },
    trustProxy: trustProxy(env.TRUST_PROXY),
    rateLimitPerMinute: intOr(env.RATE_LIMIT_PER_MINUTE, DEFAULT_RATE_LIMIT_PER_MINUTE),
    tenantRateLimitPerMinute: intOr(env.TENANT_RATE_LIMIT_PER_MINUTE, 12_000),
    wsMaxSocketsPerUser: intOr(env.WS_MAX_SOCKETS_PER_USER, 20),
    wsMaxSocketsPerIp: intOr(env.WS_MAX_SOCKETS_PER_IP, 100),
    metricsPort: env.METRICS_PORT ? intOr(env.METRICS_PORT, 0) : undefined,
    metricsToken: env.METRICS_TOKEN || undefined,
    tokenLifetimes: tokenLifetimes(env),
    database: databaseLimits(env),
    exports: {
      dir: path.resolve(env.EXPORT_DIR ?? path.join(env.DATA_DIR ?? '.data', 'exports')),
      retentionHours: atLeast('EXPORT_RETENTION_HOURS', intOr(env.EXPORT_RETENTION_HOURS, 24), 1),
      urlTtlSeconds: atLeast('EXPORT_URL_TTL_SECONDS', intOr(env.EXPORT_URL_TTL_SECONDS, 600), 10),
    },
    tracing: tracingEnabled(env),
  };
}

/** The trace exporters OpenTelemetry's Node SDK can set up from OTEL_TRACES_EXPORTER. */
const TRACE_EXPORTERS = new Set(['otlp', 'zipkin', 'console', 'none']);

/**
 * Tracing is opt-in through OpenTelemetry's standard variables: OTEL_TRACES_EXPORTER naming an exporter
 * other than `none`, or an OTLP endpoint (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)
 * with OTEL_TRACES_EXPORTER unset (the SDK's default exporter is OTLP). OTEL_SDK_DISABLED=true wins.
 * With none of them, nothing of the SDK is loaded: the SDK alone would default to exporting over OTLP
 * to localhost.
 */
function tracingEnabled(env: NodeJS.ProcessEnv): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return false;
  const exporters = (env.OTEL_TRACES_EXPORTER ?? '').split(',').map((e) => e.trim().toLowerCase()).filter(Boolean);
  const unknown = exporters.filter((e) => !TRACE_EXPORTERS.has(e));
  if (unknown.length > 0) throw new Error(`OTEL_TRACES_EXPORTER: unknown exporter "${unknown[0]}" (expected ${[...TRACE_EXPORTERS].join(', ')})`);
  if (exporters.includes('none') && exporters.length > 1) throw new Error('OTEL_TRACES_EXPORTER: "none" cannot be combined with an exporter');
  if (exporters.length > 0) return exporters[0] !== 'none';
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

function databaseLimits(env: NodeJS.ProcessEnv): DatabaseLimits {
  const poolSize = atLeast('DB_POOL_SIZE', intOr(env.DB_POOL_SIZE, 10), 1);
  // A third of the pool: two busy tenants still leave a third for everyone else.
  const tenantMaxConnections = atLeast('TENANT_MAX_CONNECTIONS', intOr(env.TENANT_MAX_CONNECTIONS, Math.max(1, Math.floor(poolSize / 3))), 1);
  if (tenantMaxConnections > poolSize) throw new Error(`TENANT_MAX_CONNECTIONS (${tenantMaxConnections}) must not exceed DB_POOL_SIZE (${poolSize})`);
  return {
    poolSize,
    acquireTimeoutMs: intOr(env.DB_ACQUIRE_TIMEOUT_MS, 5_000),
    statementTimeoutMs: intOr(env.DB_STATEMENT_TIMEOUT_MS, 10_000),
    lockTimeoutMs: intOr(env.DB_LOCK_TIMEOUT_MS, 5_000),
    idleInTransactionTimeoutMs: intOr(env.DB_IDLE_IN_TRANSACTION_TIMEOUT_MS, 30_000),
    tenantMaxConnections,
  };
}

const MINUTE = 60;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/**
 * ACCESS_TOKEN_TTL (default 15m, 10s to 24h) and REFRESH_TOKEN_TTL (default 30d, 1m to 90d, and not
 * shorter than the access token's). Short ones let client teams exercise refresh without forging
 * tokens; the bounds keep an access token longer than a round trip and no access token a day-long
 * credential that cannot be revoked.
 */
function tokenLifetimes(env: NodeJS.ProcessEnv): TokenLifetimes {
  const accessSeconds = duration('ACCESS_TOKEN_TTL', env.ACCESS_TOKEN_TTL, 15 * MINUTE, [10, DAY]);
  const refreshSeconds = duration('REFRESH_TOKEN_TTL', env.REFRESH_TOKEN_TTL, 30 * DAY, [MINUTE, 90 * DAY]);
  if (refreshSeconds < accessSeconds) throw new Error(`REFRESH_TOKEN_TTL (${written(refreshSeconds)}) must not be shorter than ACCESS_TOKEN_TTL (${written(accessSeconds)})`);
  return { accessSeconds, refreshSeconds };
}

const UNIT_SECONDS: Record<string, number> = { s: 1, m: MINUTE, h: HOUR, d: DAY };

/** A duration written as a whole number and a unit (`30s`, `15m`, `12h`, `30d`), in seconds, within `[min, max]`. */
function duration(name: string, value: string | undefined, fallback: number, [min, max]: readonly [number, number]): number {
  if (value === undefined || value.trim() === '') return fallback;
  const match = /^(\d{1,9})([smhd])$/.exec(value.trim());
  if (!match) throw new Error(`${name} must be a whole number with a unit s, m, h or d (like 15m), got "${value}"`);
  const seconds = Number(match[1]) * UNIT_SECONDS[match[2]];
  if (seconds < min || seconds > max) throw new Error(`${name} must be from ${written(min)} to ${written(max)}, got "${value}"`);
  return seconds;
}

/** Seconds in the largest unit that divides them: 86400 → `1d`. */
function written(seconds: number): string {
  const [unit, size] = Object.entries(UNIT_SECONDS).findLast(([, size]) => seconds % size === 0)!;
  return `${seconds / size}${unit}`;
}

/** A hostname (one label, like `localhost`, is fine): it is matched against Host headers and goes into SQL settings. */
function baseDomain(value: string): string {
  const domain = value.trim().toLowerCase();
  if (!/^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/.test(domain)) {
    throw new Error(`BASE_DOMAIN must be a hostname, got "${value}"`);
  }
  return domain;
}

/**
 * One DNS_SERVERS entry: an IP address with an optional port (`192.0.2.1`, `192.0.2.1:5353`, `2001:db8::1`,
 * `[2001:db8::1]:5353`), as `node:dns` `setServers` takes it. Names are refused: a resolver cannot be
 * found by asking a resolver.
 */
function dnsServer(entry: string): string {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  const [address, port] = bracketed ? [bracketed[1], bracketed[2]] : isIP(entry) === 6 ? [entry, undefined] : entry.split(/:(?=\d+$)/);
  const validPort = port === undefined || (Number(port) >= 1 && Number(port) <= 65_535);
  if (!address || !isIP(address) || !validPort) throw new Error(`DNS_SERVERS: "${entry}" is not an IP address with an optional port`);
  if (port === undefined) return address;
  return isIP(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`;
}

/**
 * TRUST_PROXY: unset, empty or `false` trusts no proxy (the client address is the socket's, and
 * X-Forwarded-For is ignored); a number trusts that many hops; anything else is a comma-separated list
 * of proxy addresses, CIDRs or proxy-addr's names (`loopback`, `linklocal`, `uniquelocal`).
 */
function trustProxy(value: string | undefined): number | readonly string[] {
  const trimmed = value?.trim() ?? '';
  if (trimmed === '' || trimmed === 'false') return 0;
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const list = trimmed.split(',').map((a) => a.trim()).filter(Boolean);
  try {
    proxyAddr.compile(list);
  } catch (err) {
    throw new Error(`TRUST_PROXY: ${(err as Error).message}`, { cause: err });
  }
  return list;
}

function atLeast(name: string, value: number, min: number): number {
  if (value < min) throw new Error(`${name} must be at least ${min}, got ${value}`);
  return value;
}

function intOr(value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`Expected a non-negative integer, got "${value}"`);
  return n;
}
