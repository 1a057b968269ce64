import argon2 from 'argon2';
import type { PasswordCost } from '../config.js';

/**
 * The stored hash of an account that has no password (an imported user: hashes never leave in an
 * archive). It is no argon2 string, so nothing verifies against it: such a user logs in once given a
 * password (`npm run cli -- set-password`).
 */
export const NO_PASSWORD_HASH = '!no-password';

/** argon2id hashing at the configured cost (OWASP's baseline by default: 19 MiB, 2 passes). */
export class PasswordHasher {
  private readonly options: { type: typeof argon2.argon2id; memoryCost: number; timeCost: number; parallelism: number };
  // Verified against when the email is unknown, so a miss costs what a wrong password costs.
  private dummyHash?: Promise<string>;

  constructor(cost: PasswordCost) {
    this.options = { type: argon2.argon2id, memoryCost: cost.memoryKib, timeCost: cost.timeCost, parallelism: 1 };
  }

  hash(password: string): Promise<string> {
    return argon2.hash(password, this.options);
  }

  /** Constant-work check: argon2's own comparison is timing-safe, and unknown users still pay a hash. */
  async verify(hash: string | undefined, password: string): Promise<boolean> {
    if (!hash || hash === NO_PASSWORD_HASH) {
      this.dummyHash ??= this.hash('tenantry-dummy-password');
      await argon2.verify(await this.dummyHash, password);
      return false;
    }
    return argon2.verify(hash, password);
  }
}
