import { isIP } from 'node:net';
import { badInput } from '../errors.js';
import { hostname as validHostname, isReservedSlug } from '../schema/validation.js';

/**
 * What a hostname is to the platform. One classification serves both Host resolution and `addDomain`,
 * so a name that can never route to a tenant's custom domain can never be added as one either.
 *
 * - `base`: BASE_DOMAIN itself or a name under it. Only the slug rule applies here: `<slug>` is the
 *   tenant with that slug (`slug` is null for the platform's own names: BASE_DOMAIN, reserved words,
 *   deeper names). Domain rows never decide these hosts, so nobody can claim a future tenant's name.
 * - `local`: an IP literal, `localhost`, or a special-use name that no public DNS delegates. Names no tenant.
 * - `custom`: anything else. Routes to a tenant only through a domain that tenant verified.
 */
export type HostKind =
  | { readonly kind: 'base'; readonly slug: string | null }
  | { readonly kind: 'local' }
  | { readonly kind: 'custom' };

/**
 * Top-level names that never name a public host (RFC 6761 `localhost` and `invalid`, RFC 6762 `local`,
 * RFC 7686 `onion`, `arpa` infrastructure including RFC 8375 `home.arpa`, ICANN's private-use
 * `internal`). `test` and `example` stay usable: nothing routes them unless a DNS server the platform
 * asks serves their TXT proof, which is how development and the tests use them.
 */
const SPECIAL_USE_TLDS: ReadonlySet<string> = new Set(['localhost', 'local', 'invalid', 'internal', 'onion', 'arpa']);

export function classifyHost(hostname: string, baseDomain: string): HostKind {
  if (hostname === baseDomain) return { kind: 'base', slug: null };
  if (hostname.endsWith(`.${baseDomain}`)) {
    const label = hostname.slice(0, -baseDomain.length - 1);
    return { kind: 'base', slug: label.includes('.') || isReservedSlug(label) ? null : label };
  }
  if (isIP(hostname) || hostname.startsWith('[')) return { kind: 'local' };
  if (SPECIAL_USE_TLDS.has(hostname.slice(hostname.lastIndexOf('.') + 1))) return { kind: 'local' };
  return { kind: 'custom' };
}

/**
 * `addDomain`'s hostname: a valid name (so no IP literal and no single label like `localhost`) that is
 * a `custom` host. BAD_USER_INPUT otherwise, decided by the name alone: whether anyone holds it plays
 * no part.
 */
export function customHostname(value: string, baseDomain: string, field = 'hostname'): string {
  const hostname = validHostname(value, field);
  const { kind } = classifyHost(hostname, baseDomain);
  if (kind === 'base') throw badInput(`${hostname} belongs to the platform: a tenant is reached on <slug>.${baseDomain} by its slug`, field);
  if (kind === 'local') throw badInput(`${hostname} is a local-only name, not a public hostname`, field);
  return hostname;
}

/** A tenant's own hostname, its by construction (its slug is unique). */
export function platformHostname(slug: string, baseDomain: string): string {
  return `${slug}.${baseDomain}`;
}

/** A `Host` header as a hostname: lower case, without port or a trailing dot; IPv6 literals keep their brackets. */
export function hostFromHeader(host: string | undefined): string | undefined {
  return host?.trim().toLowerCase().replace(/:\d+$/, '').replace(/\.$/, '') || undefined;
}
