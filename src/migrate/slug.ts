/**
 * Tenant slugs derived from legacy schema names, valid per the API contract: 3–40 characters of
 * `a-z 0-9 -`, starting with a letter, not a reserved word, unique.
 */

import { RESERVED_SLUGS, SLUG_PATTERN } from '../schema/validation.js';

export const SLUG_MIN = 3;
export const SLUG_MAX = 40;

// Russian/Ukrainian/Belarusian Cyrillic, GOST-like transliteration (schema names in the legacy
// system are transliterated store names, e.g. `tenant_novyj-testovyj-magazin-2`).
const CYRILLIC: Record<string, string> = {
  а: 'a', б: 'b', в: 'v', г: 'g', д: 'd', е: 'e', ё: 'e', ж: 'zh', з: 'z', и: 'i', й: 'j', к: 'k', л: 'l', м: 'm',
  н: 'n', о: 'o', п: 'p', р: 'r', с: 's', т: 't', у: 'u', ф: 'f', х: 'h', ц: 'c', ч: 'ch', ш: 'sh', щ: 'shch', ъ: '',
  ы: 'y', ь: '', э: 'e', ю: 'yu', я: 'ya', і: 'i', ї: 'yi', є: 'ye', ґ: 'g', ў: 'u',
};

export function isValidSlug(slug: string): boolean {
  return SLUG_PATTERN.test(slug) && !RESERVED_SLUGS.has(slug);
}

/**
 * The preferred slug for a schema: lower case, transliterated, accents dropped, every other run of
 * characters a single `-`, `stripPrefix` (e.g. `tenant_`) removed when something is left. Too short,
 * starting with a digit, or reserved: made valid with the legacy id. Uniqueness is `uniqueSlug`'s job.
 */
export function baseSlug(schema: string, legacyId: string, stripPrefix = ''): string {
  let name = schema;
  if (stripPrefix && name.toLowerCase().startsWith(stripPrefix.toLowerCase()) && name.length > stripPrefix.length) {
    name = name.slice(stripPrefix.length);
  }
  let slug = [...name.toLowerCase()]
    .map((ch) => CYRILLIC[ch] ?? ch)
    .join('')
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  const idPart = legacyId.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '') || 'x';
  if (!/^[a-z]/.test(slug)) slug = slug ? `t-${slug}` : `tenant-${idPart}`;
  slug = trimTo(slug, SLUG_MAX);
  if (slug.length < SLUG_MIN || RESERVED_SLUGS.has(slug)) slug = trimTo(`${slug}-${idPart}`, SLUG_MAX);
  if (slug.length < SLUG_MIN) slug = trimTo(`tenant-${slug}`, SLUG_MAX);
  return slug;
}

/** `base`, else `base-2`, `base-3`, … (shortened to fit 40 characters): the first not `taken`. */
export function uniqueSlug(base: string, taken: (slug: string) => boolean): string {
  for (let n = 1; ; n++) {
    const suffix = n === 1 ? '' : `-${n}`;
    const candidate = `${trimTo(base, SLUG_MAX - suffix.length)}${suffix}`;
    if (isValidSlug(candidate) && !taken(candidate)) return candidate;
  }
}

function trimTo(slug: string, max: number): string {
  return slug.slice(0, max).replace(/-+$/, '');
}
