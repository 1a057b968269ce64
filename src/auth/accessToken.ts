import jwt from 'jsonwebtoken';
import { createSecretKey, type KeyObject, randomUUID } from 'node:crypto';
import type { TokenLifetimes } from '../config.js';
import { Role } from '../entities/User.js';
import { tokenExpired, unauthenticated } from '../errors.js';

/** What issuing and checking a session's tokens needs: the HS256 key and the configured lifetimes. */
export interface TokenSettings {
  readonly secret: string;
  readonly lifetimes: TokenLifetimes;
}

/** The verified identity behind a request. */
export interface Principal {
  readonly userId: string;
  readonly role: Role;
  /** Absent for superadmins only. */
  readonly tenantId: string | null;
  /** Expiry, seconds since the epoch. */
  readonly exp: number;
}

// jsonwebtoken turns a string secret into a key on every call (trying it as a public key first);
// a KeyObject made once per secret skips that work on the hot path.
const keys = new Map<string, KeyObject>();
function keyFor(secret: string): KeyObject {
  let key = keys.get(secret);
  if (!key) keys.set(secret, (key = createSecretKey(Buffer.from(secret, 'utf8'))));
  return key;
}

export function signAccessToken(tokens: TokenSettings, user: { id: string; role: Role; tenantId: string | null }): { token: string; expiresAt: Date } {
  const claims: Record<string, unknown> = { role: user.role };
  if (user.tenantId) claims.tenantId = user.tenantId;
  const token = jwt.sign(claims, keyFor(tokens.secret), {
    algorithm: 'HS256',
    subject: user.id,
    expiresIn: tokens.lifetimes.accessSeconds,
    jwtid: randomUUID(),
  });
  const { exp } = jwt.decode(token) as { exp: number };
  return { token, expiresAt: new Date(exp * 1000) };
}

/**
 * Verifies signature (HS256 only: `alg: none` and other algorithms are refused), expiry and claims.
 * Expired → TOKEN_EXPIRED (the client should refresh); anything else wrong → UNAUTHENTICATED.
 */
export function verifyAccessToken(secret: string, token: string): Principal {
  let payload: jwt.JwtPayload;
  try {
    payload = jwt.verify(token, keyFor(secret), { algorithms: ['HS256'] }) as jwt.JwtPayload;
  } catch (err) {
    if (err instanceof jwt.TokenExpiredError) throw tokenExpired();
    throw unauthenticated('Invalid access token');
  }
  const role = payload.role as Role;
  const tenantId = typeof payload.tenantId === 'string' ? payload.tenantId : null;
  const valid =
    typeof payload.sub === 'string' &&
    typeof payload.exp === 'number' &&
    Object.values(Role).includes(role) &&
    (role === Role.SUPERADMIN ? tenantId === null : tenantId !== null);
  if (!valid) throw unauthenticated('Invalid access token');
  return { userId: payload.sub!, role, tenantId, exp: payload.exp! };
}

/** `Bearer <token>` → token; anything else → undefined. */
export function bearerToken(header: unknown): string | undefined {
  if (typeof header !== 'string') return undefined;
  const match = /^Bearer\s+(\S+)$/i.exec(header.trim());
  return match?.[1];
}
