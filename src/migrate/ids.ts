import { v3 as uuidv3 } from 'uuid';
import { ql } from './sql.js';

/**
 * Deterministic ids for migrated rows.
 *
 * A legacy row `(tenant, table, integer id)` always becomes the same uuid, so foreign keys are remapped
 * by computing the parent's uuid from the legacy foreign key (no lookup table), and a re-run or a
 * resumed run produces the very same keys (idempotent).
 *
 * The construction is RFC 9562 name-based: UUIDv3, i.e. MD5 over namespace bytes + name. UUIDv5 is the
 * same construction with SHA-1, but core PostgreSQL has no SHA-1 (pgcrypto would have to be installed
 * in the source, which is only read), and the mapping has to be computable in SQL on both sides: the
 * copy and the verification checksum map ids inside the source query. Collision resistance is not a
 * concern here: the names are integers we enumerate, not attacker input.
 *
 * - tenant uuid: v3(`legacy-tenant:<registry id>`, MIGRATION_NAMESPACE)
 * - row uuid:    v3(`<table>:<legacy id>`, tenant uuid)
 */
export const MIGRATION_NAMESPACE = '5d0c4c5e-2b4f-4c59-9a51-7f3c1d2e8a90';

export function tenantIdFor(legacyTenantId: string): string {
  return uuidv3(`legacy-tenant:${legacyTenantId}`, MIGRATION_NAMESPACE);
}

export function rowIdFor(tenantId: string, table: string, legacyId: string | number | bigint): string {
  return uuidv3(`${table}:${legacyId}`, tenantId);
}

/**
 * The SQL twin of `rowIdFor`, in two halves so a query can hash once per row and reuse the digest:
 * `rowDigestSql` is the 16-byte MD5 of the name (NULL when `idExpr` is NULL), `uuidFromDigestSql`
 * stamps version 3 and the RFC variant into it. `tenantId` is a uuid we generated, inlined as hex.
 */
export function rowDigestSql(tenantId: string, table: string, idExpr: string): string {
  const hex = tenantId.replaceAll('-', '');
  if (!/^[0-9a-f]{32}$/.test(hex)) throw new Error(`not a uuid: ${tenantId}`);
  return `decode(md5(decode('${hex}', 'hex') || convert_to(${ql(`${table}:`)} || (${idExpr})::text, 'UTF8')), 'hex')`;
}

export function uuidFromDigestSql(digest: string): string {
  // version nibble 3 (byte 6), variant 10xx (byte 8)
  return `encode(set_byte(set_byte(${digest}, 6, (get_byte(${digest}, 6) & 15) | 48), 8, (get_byte(${digest}, 8) & 63) | 128), 'hex')::uuid`;
}

/** `rowIdFor` as one SQL expression (hashes three times: for small queries and tests). */
export function rowIdSql(tenantId: string, table: string, idExpr: string): string {
  return uuidFromDigestSql(rowDigestSql(tenantId, table, idExpr));
}
