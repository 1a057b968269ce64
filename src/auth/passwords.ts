import argon2 from 'argon2';

// OWASP's argon2id baseline (19 MiB, 2 passes). Tests and benchmarks may lower the cost via env.
const options = {
  type: argon2.argon2id as 2,
  memoryCost: Number(process.env.ARGON2_MEMORY_KIB ?? 19_456),
  timeCost: Number(process.env.ARGON2_TIME_COST ?? 2),
  parallelism: 1,
};

export function hashPassword(password: string): Promise<string> {
  return argon2.hash(password, options);
}

// Verified against when the email is unknown, so a miss costs what a wrong password costs.
let dummyHash: Promise<string> | undefined;

/** Constant-work check: argon2's own comparison is timing-safe, and unknown users still pay a hash. */
export async function verifyPassword(hash: string | undefined, password: string): Promise<boolean> {
  if (!hash) {
    dummyHash ??= hashPassword('tenantry-dummy-password');
    await argon2.verify(await dummyHash, password);
    return false;
  }
  return argon2.verify(hash, password);
}
