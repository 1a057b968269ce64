import type { IncomingMessage } from 'node:http';
import proxyAddr from 'proxy-addr';
import type { Config } from '../config.js';

/** Whether the hop at `address`, `hop` steps from the server (0 = the socket's peer), is a trusted proxy. */
export type ProxyTrust = (address: string, hop: number) => boolean;

/**
 * TRUST_PROXY as a trust function: with a hop count n, the first n hops are proxies; with a list, the
 * hops whose address is in it. Express takes the same function (`trust proxy`), so `req.ip` and the
 * WebSocket upgrade's client address are decided by one rule.
 */
export function proxyTrust(trust: Config['trustProxy']): ProxyTrust {
  if (typeof trust === 'number') return (_address, hop) => hop < trust;
  return proxyAddr.compile([...trust]);
}

/**
 * The client's address: the socket's peer, or, when that is a trusted proxy, the nearest untrusted
 * address in X-Forwarded-For. With no trusted proxy a client cannot choose its own address.
 */
export function clientAddress(req: IncomingMessage, trust: ProxyTrust): string {
  return proxyAddr(req, trust);
}
