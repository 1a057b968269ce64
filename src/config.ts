import path from 'node:path';

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
  readonly baseDomain: string;
  /** Created on start when both are set (SUPERADMIN_EMAIL + SUPERADMIN_PASSWORD). */
  readonly superadmin?: { readonly email: string; readonly password: string };
  /** Each alone: `create-superadmin` falls back to them for a missing flag. */
  readonly superadminEmail?: string;
  readonly superadminPassword?: string;
  /** Run the provisioning worker inside the server process. */
  readonly runWorker: boolean;
  readonly logLevel: string;
  readonly corsOrigins: string[] | true;
  /** argon2id cost: OWASP's baseline by default; tests lower it. */
  readonly passwordHashing: PasswordCost;
  /** How long the API server's requests may wait for and hold database connections. */
  readonly database: DatabaseLimits;
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
    baseDomain: (env.BASE_DOMAIN ?? 'localhost').toLowerCase(),
    superadmin:
      env.SUPERADMIN_EMAIL && env.SUPERADMIN_PASSWORD
        ? { email: env.SUPERADMIN_EMAIL, password: env.SUPERADMIN_PASSWORD }
        : undefined,
    superadminEmail: env.SUPERADMIN_EMAIL || undefined,
    superadminPassword: env.SUPERADMIN_PASSWORD || undefined,
    runWorker: env.RUN_WORKER !== 'false',
    logLevel: env.LOG_LEVEL ?? (nodeEnv === 'test' ? 'silent' : 'info'),
    corsOrigins: env.CORS_ORIGINS ? env.CORS_ORIGINS.split(',').map((o) => o.trim()) : true,
    passwordHashing: {
      memoryKib: atLeast('ARGON2_MEMORY_KIB', intOr(env.ARGON2_MEMORY_KIB, 19_456), 1024),
      timeCost: atLeast('ARGON2_TIME_COST', intOr(env.ARGON2_TIME_COST, 2), 1),
    },
    database: databaseLimits(env),
  };
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
