import jwt from 'jsonwebtoken';
import { randomUUID } from 'node:crypto';
import { JWT_SECRET } from './server.js';

/** The claims of an access token, as the server wrote them (no verification). */
export interface Claims {
  sub: string;
  tenantId?: string;
  role: string;
  iat: number;
  exp: number;
  jti: string;
}

export const claimsOf = (token: string): Claims => jwt.decode(token) as Claims;

const nowSeconds = () => Math.floor(Date.now() / 1000);

/**
 * An HS256 token signed like the server does (by default with the test server's secret), with any
 * claims: expired ones, ones with missing or odd claims.
 */
export function signToken(claims: Record<string, unknown>, options: { secret?: string; expiresInSeconds?: number } = {}): string {
  const iat = nowSeconds();
  return jwt.sign({ iat, exp: iat + (options.expiresInSeconds ?? 900), jti: randomUUID(), ...claims }, options.secret ?? JWT_SECRET, { algorithm: 'HS256', noTimestamp: true });
}

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** An unsigned token (`alg: none`) carrying the claims of `token`. */
export function unsignedCopy(token: string): string {
  return `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(claimsOf(token))}.`;
}

/** `token` with its payload changed and its original signature kept. */
export function withPayload(token: string, change: Record<string, unknown>): string {
  const [header, , signature] = token.split('.');
  return `${header}.${b64url({ ...claimsOf(token), ...change })}.${signature}`;
}
