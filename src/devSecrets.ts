import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Secrets a development data dir keeps for itself: the JWT key when JWT_SECRET is unset, and the
 * embedded Postgres superuser's password.
 */
export type DevSecretName = 'jwtSecret' | 'postgresPassword';

/** Where the data dir keeps them: readable by its owner only (mode 0600). */
export const devSecretsFile = (dataDir: string) => path.join(dataDir, 'dev-secrets.json');

/**
 * A development secret kept in the data dir, created (random) on first use. The JWT key is never used
 * in production: there the caller refuses to start without the real one.
 */
export function devSecret(dataDir: string, name: DevSecretName): string {
  const file = devSecretsFile(dataDir);
  const secrets: Partial<Record<DevSecretName, string>> = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
  let secret = secrets[name];
  if (!secret) {
    secrets[name] = secret = randomBytes(32).toString('base64url');
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(file, JSON.stringify(secrets, null, 2), { mode: 0o600 });
    chmodSync(file, 0o600); // `mode` applies only when the file is created: tighten one written before
  }
  return secret;
}
