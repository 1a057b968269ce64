import { badInput } from '../errors.js';

/**
 * The contract's input rules (api-contract.md, Input rules), each raising BAD_USER_INPUT naming the
 * field at fault. Resolvers validate everything before writing anything.
 */

/** Words a tenant slug may not be: host names and paths the platform keeps for itself. */
export const RESERVED_SLUGS: ReadonlySet<string> = new Set([
  'www', 'api', 'admin', 'app', 'apps', 'auth', 'login', 'logout', 'signup', 'register', 'account', 'accounts',
  'dashboard', 'console', 'graphql', 'static', 'assets', 'cdn', 'media', 'mail', 'email', 'smtp', 'imap', 'pop', 'ftp',
  'ns1', 'ns2', 'dns', 'status', 'health', 'healthz', 'readyz', 'metrics', 'help', 'support', 'docs', 'blog', 'billing',
  'root', 'system', 'platform', 'superadmin', 'internal', 'public', 'dev', 'test', 'staging', 'localhost', 'tenant',
  'tenants', 'tenantry',
])

export const SLUG_PATTERN = /^[a-z][a-z0-9-]{2,39}$/;
const SKU = /^[A-Za-z0-9\-_.]{1,64}$/;
// Pragmatic RFC 5322 subset: one @, no spaces, a dotted domain with a 2+ letter TLD.
const EMAIL = /^[^\s@"(),:;<>[\\\]]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.[A-Za-z]{2,}$/;
const HOSTNAME = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
const INT32_MAX = 2_147_483_647;

export const isReservedSlug = (slug: string) => RESERVED_SLUGS.has(slug);

export function slug(value: string, field = 'slug'): string {
  if (!SLUG_PATTERN.test(value)) {
    throw badInput('A slug is 3–40 characters of a-z, 0-9 and -, starting with a letter', field);
  }
  if (isReservedSlug(value)) throw badInput(`"${value}" is reserved`, field);
  return value;
}

/** Emails are compared case-insensitively: they are stored lower-cased. */
export function email(value: string, field = 'email'): string {
  const trimmed = value.trim();
  if (trimmed.length > 320 || !EMAIL.test(trimmed)) throw badInput('Not a valid email address', field);
  return trimmed.toLowerCase();
}

export function password(value: string, field = 'password'): string {
  if (value.length < 10) throw badInput('A password has at least 10 characters', field);
  if (value.length > 1024) throw badInput('A password has at most 1024 characters', field);
  return value;
}

export function name(value: string, field = 'name'): string {
  const trimmed = value.trim();
  if (trimmed.length < 1 || trimmed.length > 200) throw badInput('A name is 1–200 characters', field);
  return trimmed;
}

export function sku(value: string, field = 'sku'): string {
  if (!SKU.test(value)) throw badInput('A sku is 1–64 characters of A-Z a-z 0-9 - _ .', field);
  return value;
}

export function priceCents(value: number, field = 'priceCents'): number {
  if (!Number.isInteger(value) || value < 0) throw badInput('priceCents is a whole number ≥ 0', field);
  return value;
}

export function quantity(value: number, field = 'quantity'): number {
  if (!Number.isInteger(value) || value < 1 || value > 10_000) throw badInput('quantity is 1–10,000', field);
  return value;
}

export function first(value: number | undefined | null, fallback: number, field = 'first'): number {
  const n = value ?? fallback;
  if (!Number.isInteger(n) || n < 1 || n > 100) throw badInput('first is 1–100', field);
  return n;
}

export function hostname(value: string, field = 'hostname'): string {
  const host = value.trim().toLowerCase();
  if (!HOSTNAME.test(host)) throw badInput('Not a valid hostname', field);
  return host;
}

export function search(value: string | undefined | null): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (value.length > 200) throw badInput('search is at most 200 characters', 'search');
  return value;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ids are uuids: anything else is malformed input, not a missing record. */
export function id(value: string, field = 'id'): string {
  if (!UUID.test(value)) throw badInput('Malformed id', field);
  return value.toLowerCase();
}

/** Sums that must still fit the schema's Int. */
export function int32(value: number, field: string): number {
  if (value > INT32_MAX) throw badInput(`${field} is too large`, field);
  return value;
}
