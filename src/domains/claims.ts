import { randomBytes } from 'node:crypto';
import type { Domain } from '../entities/Domain.js';

/** How long an unverified claim waits for its DNS proof. */
export const CLAIM_TTL_DAYS = 7;

/** The label under which a claimed hostname publishes its proof: `_tenantry-challenge.<hostname>`. */
export const CHALLENGE_LABEL = '_tenantry-challenge';

/** The DNS record a tenant publishes to prove it controls a hostname. */
export interface VerificationRecord {
  readonly type: 'TXT';
  readonly name: string;
  readonly value: string;
  readonly expiresAt: Date;
}

/** A new claim's proof: a random token (128 bits, its own per claim) and its deadline. */
export function newClaim(now: Date = new Date()): Pick<Domain, 'verificationToken' | 'verificationExpiresAt'> {
  return {
    verificationToken: randomBytes(16).toString('hex'),
    verificationExpiresAt: new Date(now.getTime() + CLAIM_TTL_DAYS * 24 * 3600 * 1000),
  };
}

export function challengeName(hostname: string): string {
  return `${CHALLENGE_LABEL}.${hostname}`;
}

/** The record still to publish; null once the domain is verified. */
export function verificationRecord(domain: Domain): VerificationRecord | null {
  if (domain.verifiedAt || !domain.verificationToken || !domain.verificationExpiresAt) return null;
  return { type: 'TXT', name: challengeName(domain.hostname), value: domain.verificationToken, expiresAt: domain.verificationExpiresAt };
}

export function isExpired(domain: Domain, now: Date = new Date()): boolean {
  return !domain.verifiedAt && !!domain.verificationExpiresAt && domain.verificationExpiresAt <= now;
}
