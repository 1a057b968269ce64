import { Resolver } from 'node:dns/promises';
import type { DnsConfig } from '../config.js';
import { challengeName } from './claims.js';

/** Why a TXT proof did not hold. */
export type ProofFailure =
  /** No TXT record at `_tenantry-challenge.<hostname>` (NXDOMAIN or no data). */
  | 'RECORD_NOT_FOUND'
  /** TXT records there, none of them the claim's token. */
  | 'RECORD_MISMATCH'
  /** The resolvers did not answer in time, or failed (timeout, SERVFAIL, refused): try again later. */
  | 'DNS_UNAVAILABLE';

const NOT_FOUND_CODES: ReadonlySet<string> = new Set(['ENOTFOUND', 'ENODATA']);

/**
 * Checks a claim's TXT record with `node:dns` against the configured resolvers (DNS_SERVERS, else the
 * system's), bounded by DNS_TIMEOUT_MS.
 */
export class DnsChallenge {
  constructor(private readonly config: DnsConfig) {}

  /** Null when `_tenantry-challenge.<hostname>` holds `token` (among any other records), else why not. */
  async check(hostname: string, token: string): Promise<ProofFailure | null> {
    let records: string[][];
    try {
      records = await this.resolveTxt(challengeName(hostname));
    } catch (err) {
      return NOT_FOUND_CODES.has((err as NodeJS.ErrnoException).code ?? '') ? 'RECORD_NOT_FOUND' : 'DNS_UNAVAILABLE';
    }
    // A TXT record arrives as the character-strings it was split into (255 octets each).
    return records.some((chunks) => chunks.join('') === token) ? null : 'RECORD_MISMATCH';
  }

  private async resolveTxt(name: string): Promise<string[][]> {
    // A resolver per lookup: `cancel()` ends every query of its resolver, and one verification's
    // deadline must not end another's. Two tries per server, each a third of the budget, so a lost
    // UDP packet is retried; the timer is the hard bound whatever the number of servers.
    const { servers, timeoutMs } = this.config;
    const resolver = new Resolver({ timeout: Math.max(50, Math.floor(timeoutMs / 3)), tries: 2 });
    if (servers) resolver.setServers([...servers]);
    const deadline = setTimeout(() => resolver.cancel(), timeoutMs);
    try {
      return await resolver.resolveTxt(name);
    } finally {
      clearTimeout(deadline);
    }
  }
}
