/**
 * Password hashing (argon2id, tens of ms of CPU at production cost) never runs while its request holds
 * a pooled connection (issue 8, item 3): `login` and `signUp` hash outside any transaction. Shown on a
 * server with a pool of one connection, whose hasher stops mid-hash until the test lets it go: other
 * requests are answered meanwhile. (`createUser`, ADMIN only, hashes inside its tenant's unit of work:
 * see docs/api.md, Load and outages.)
 */
import { PasswordHasher } from '../../src/auth/passwords.js';
import { loadConfig } from '../../src/config.js';
import { PASSWORD, readyTenant, type SignedUp } from '../support/fixtures.js';
import { within } from '../support/locks.js';
import { gql, startTestServer, TEST_ENV, type TestServer } from '../support/server.js';

/** argon2id that waits, once started, until `proceed()`; `started` resolves when a hash begins. */
class HeldHasher extends PasswordHasher {
  private gate: Promise<void> = Promise.resolve();
  private open: () => void = () => undefined;
  private onStart: () => void = () => undefined;
  started: Promise<void> = Promise.resolve();

  hold(): void {
    this.gate = new Promise((resolve) => (this.open = resolve));
    this.started = new Promise((resolve) => (this.onStart = resolve));
  }

  proceed(): void {
    this.open();
  }

  override async hash(password: string): Promise<string> {
    this.onStart();
    await this.gate;
    return super.hash(password);
  }

  override async verify(hash: string | undefined, password: string): Promise<boolean> {
    this.onStart();
    await this.gate;
    return super.verify(hash, password);
  }
}

const hasher = new HeldHasher(loadConfig(TEST_ENV).passwordHashing);
let server: TestServer;
let t: SignedUp;

beforeAll(async () => {
  server = await startTestServer({ passwords: hasher, env: { DB_POOL_SIZE: '1', DB_ACQUIRE_TIMEOUT_MS: '3000' } });
  t = await readyTenant(server, 'hashing');
});
afterAll(() => server.close());

/** Starts `operation`, waits until its hash has begun, checks another request is answered, then lets the hash finish. */
async function answeredWhileHashing(operation: () => Promise<{ status: number; body: { data?: unknown } }>) {
  hasher.hold();
  const pending = operation();
  await hasher.started;
  const other = await within(2_000, 'a query while a password is being hashed', gql(server, '{ products(first: 1) { totalCount } }', {}, { token: t.token }));
  hasher.proceed();
  return { other, operation: await pending };
}

test('a query is answered while login hashes, on a pool of one connection', async () => {
  const { other, operation } = await answeredWhileHashing(() =>
    gql(server, `mutation { login(input: {email: "admin@hashing.example.com", password: "${PASSWORD}", tenant: "hashing"}) { accessToken } }`),
  );
  expect(other.body.data).toEqual({ products: { totalCount: 0 } });
  expect(operation.status).toBe(200);
});

test('a query is answered while signUp hashes, on a pool of one connection', async () => {
  const { other, operation } = await answeredWhileHashing(() =>
    gql(server, `mutation { signUp(input: {tenantName: "Second", slug: "hashing-two", email: "ada@two.example.com", password: "${PASSWORD}"}) { accessToken } }`),
  );
  expect(other.body.data).toEqual({ products: { totalCount: 0 } });
  expect(operation.status).toBe(200);
});
