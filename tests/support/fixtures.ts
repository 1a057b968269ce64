import { PasswordHasher } from '../../src/auth/passwords.js';
import { ensureSuperadmin } from '../../src/auth/superadmin.js';
import { loadConfig } from '../../src/config.js';
import type { Orm } from '../../src/db/orm.js';
import { gql, type GqlOptions, TEST_ENV } from './server.js';

export const PASSWORD = 'correct horse battery staple';

export interface SignedUp {
  readonly tenantId: string;
  readonly slug: string;
  readonly token: string;
  readonly refreshToken: string;
  readonly userId: string;
}

const SIGN_UP = `mutation($input: SignUpInput!) { signUp(input: $input) { accessToken refreshToken user { id } tenant { id slug status } } }`;

export async function signUp(server: { url: string }, slug: string, email = `admin@${slug}.example.com`): Promise<SignedUp> {
  const r = await gql(server, SIGN_UP, { input: { tenantName: `Tenant ${slug}`, slug, email, password: PASSWORD } });
  if (!r.body.data?.signUp) throw new Error(`signUp ${slug} failed: ${JSON.stringify(r.body)}`);
  const s = r.body.data.signUp;
  return { tenantId: s.tenant.id, slug: s.tenant.slug, token: s.accessToken, refreshToken: s.refreshToken, userId: s.user.id };
}

/** Polls until the tenant is READY (the worker prepares it in the background). */
export async function waitReady(server: { url: string }, token: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await gql(server, '{ currentTenant { status statusError } }', {}, { token });
    const status = r.body.data?.currentTenant?.status;
    if (status === 'READY') return;
    if (Date.now() > deadline) throw new Error(`tenant not READY after ${timeoutMs} ms: ${JSON.stringify(r.body)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export async function readyTenant(server: { url: string }, slug: string): Promise<SignedUp> {
  const t = await signUp(server, slug);
  await waitReady(server, t.token);
  return t;
}

export const SUPERADMIN_EMAIL = 'root@platform.example.com';

export interface TokenPair {
  readonly accessToken: string;
  readonly refreshToken: string;
}

/** Creates (once) and logs in the platform superadmin; returns an access token. */
export async function superadminToken(server: { url: string; orm: Orm }): Promise<string> {
  return (await superadminSession(server)).accessToken;
}

/** Creates (once) and logs in the platform superadmin: a session's pair of tokens. */
export async function superadminSession(server: { url: string; orm: Orm }): Promise<TokenPair> {
  await ensureSuperadmin(server.orm, new PasswordHasher(loadConfig(TEST_ENV).passwordHashing), SUPERADMIN_EMAIL, PASSWORD);
  const r = await gql(server, `mutation($input: LoginInput!) { login(input: $input) { accessToken refreshToken } }`, { input: { email: SUPERADMIN_EMAIL, password: PASSWORD } });
  if (!r.body.data?.login) throw new Error(`superadmin login failed: ${JSON.stringify(r.body)}`);
  return r.body.data.login;
}

/** Spends a refresh token: the session's next pair. */
export async function refreshSession(server: { url: string }, refreshToken: string): Promise<TokenPair> {
  const r = await gql(server, `mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken refreshToken } }`, { t: refreshToken });
  if (!r.body.data?.refreshToken) throw new Error(`refreshToken failed: ${JSON.stringify(r.body)}`);
  return r.body.data.refreshToken;
}

export async function createProduct(server: { url: string }, opts: GqlOptions, sku: string, priceCents = 1000): Promise<string> {
  const r = await gql(server, `mutation($i: ProductInput!) { createProduct(input: $i) { id } }`, { i: { sku, name: `Product ${sku}`, priceCents } }, opts);
  if (!r.body.data?.createProduct) throw new Error(`createProduct failed: ${JSON.stringify(r.body)}`);
  return r.body.data.createProduct.id;
}

export async function createCustomer(server: { url: string }, opts: GqlOptions, name: string, email?: string): Promise<string> {
  const r = await gql(server, `mutation($i: CustomerInput!) { createCustomer(input: $i) { id } }`, { i: { name, email } }, opts);
  if (!r.body.data?.createCustomer) throw new Error(`createCustomer failed: ${JSON.stringify(r.body)}`);
  return r.body.data.createCustomer.id;
}

export async function createOrder(server: { url: string }, opts: GqlOptions, customerId: string, lines: { productId: string; quantity: number }[]): Promise<{ id: string; number: number; totalCents: number }> {
  const r = await gql(server, `mutation($i: OrderInput!) { createOrder(input: $i) { id number totalCents } }`, { i: { customerId, lines } }, opts);
  if (!r.body.data?.createOrder) throw new Error(`createOrder failed: ${JSON.stringify(r.body)}`);
  return r.body.data.createOrder;
}
