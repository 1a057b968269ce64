import { NO_PASSWORD_HASH } from '../auth/passwords.js';

/**
 * What the lifecycle knows about particular tables beyond what the database catalog says. Every table
 * holding `tenant_id` is exported, erased and imported from the catalog alone (columns, keys, foreign
 * keys: src/lifecycle/catalog.ts); a rule is needed only where that is not the right thing, and the
 * coverage check (`planLifecycle`) refuses a table it cannot handle safely without one: a column that
 * looks like a credential, a required column the archive would not carry, a key an import could not
 * remap. tests/lifecycle/catalog.test.ts fails on any such table.
 */
export interface TableRule {
  /** Why the table never leaves in an archive (it is still erased). */
  readonly notExported?: string;
  /** Columns left out of the archive, and why. */
  readonly omit?: { readonly columns: readonly string[]; readonly why: string };
  /** Credential-looking columns that do belong in the archive, and why. */
  readonly keep?: { readonly columns: readonly string[]; readonly why: string };
  /** SQL written on import for a column the archive does not carry. */
  readonly fill?: Readonly<Record<string, string>>;
  /**
   * Plain uuid columns (no foreign key) naming a row of another table that is remapped like a foreign
   * key when the archive holds that row, and kept as it is otherwise (e.g. an audit event's actor: one
   * of the tenant's users, or a superadmin).
   */
  readonly remapIfImported?: Readonly<Record<string, string>>;
  /** Tables to import before this one besides its foreign-key parents (what `remapIfImported` looks up). */
  readonly after?: readonly string[];
  /** SQL overriding a column's imported value (`r` is the archive row, see ImportSqlContext). */
  readonly importValue?: Readonly<Record<string, (ctx: ImportValueContext) => string>>;
}

/** What an `importValue` expression may use: the archive row `r`, and the values as SQL literals. */
export interface ImportValueContext {
  /** The archive row (`r."column"`), as json_to_recordset typed it. */
  readonly r: string;
  /** `<slug>.<BASE_DOMAIN>` of the exported tenant, as an SQL literal. */
  readonly archivePlatformHost: string;
  /** The imported tenant's `<slug>.<BASE_DOMAIN>`, as an SQL literal. */
  readonly platformHost: string;
}

/**
 * A custom domain whose hostname another tenant has verified meanwhile (an import beside the tenant it
 * was exported from, say) cannot be verified twice: it comes in as a claim, to be proven again.
 */
const hostnameTakenElsewhere = (c: ImportValueContext) =>
  `(${c.r}."verified_at" is not null and ${c.r}."hostname" <> ${c.archivePlatformHost} and tenant_for_hostname(${c.r}."hostname") is not null)`;

export const TABLE_RULES: Readonly<Record<string, TableRule>> = {
  user: {
    omit: { columns: ['password_hash'], why: 'password hashes never leave the database' },
    // An imported user cannot log in until given a password (`npm run cli -- set-password`).
    fill: { password_hash: `'${NO_PASSWORD_HASH}'` },
  },
  refresh_token: { notExported: 'sessions do not survive an export: imported users log in again' },
  domain: {
    keep: { columns: ['verification_token'], why: "a claim's TXT value is published in DNS, not a credential" },
    importValue: {
      // The tenant's own `<slug>.<BASE_DOMAIN>` follows its new slug and this deployment's BASE_DOMAIN.
      hostname: (c) => `case when ${c.r}."hostname" = ${c.archivePlatformHost} then ${c.platformHost} else ${c.r}."hostname" end`,
      verified_at: (c) => `case when ${hostnameTakenElsewhere(c)} then null else ${c.r}."verified_at" end`,
      is_active: (c) => `case when ${hostnameTakenElsewhere(c)} then false else ${c.r}."is_active" end`,
      is_primary: (c) => `case when ${hostnameTakenElsewhere(c)} then false else ${c.r}."is_primary" end`,
      primary_on_verification: (c) => `case when ${hostnameTakenElsewhere(c)} then ${c.r}."is_primary" or ${c.r}."primary_on_verification" else ${c.r}."primary_on_verification" end`,
      verification_token: (c) => `case when ${hostnameTakenElsewhere(c)} then replace(gen_random_uuid()::text, '-', '') else ${c.r}."verification_token" end`,
      verification_expires_at: (c) => `case when ${hostnameTakenElsewhere(c)} then now() + interval '7 days' else ${c.r}."verification_expires_at" end`,
    },
  },
  audit_event: { remapIfImported: { actor_id: 'user' }, after: ['user'] },
  migration_checkpoint: { notExported: "the migrator's bookkeeping: an imported tenant is no migration in progress" },
  idempotency_key: { notExported: 'stored answers of Idempotency-Keys: a retry window of at most 24 hours, not data (an imported tenant has no retries in flight)' },
  tenant_export: { notExported: "the lifecycle's own bookkeeping" },
  tenant_import_checkpoint: { notExported: "the lifecycle's own bookkeeping" },
};

/** Column names that look like credentials: an exported table must omit or keep each explicitly. */
export const CREDENTIAL_COLUMN = /password|secret|token|hash/i;
