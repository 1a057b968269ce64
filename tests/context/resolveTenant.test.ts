import pg from 'pg';
import { APP_ROLE, HOST_LOOKUP_FUNCTION } from '../../src/db/roles.js';
import { createProduct, PASSWORD, readyTenant, type SignedUp, superadminToken } from '../support/fixtures.js';
import { startDnsServer, type TestDnsServer, verifiedDomain } from '../support/dns.js';
import { BASE_DOMAIN, codeOf, gql, type GqlOptions, type GqlResponse, startTestServer, type TestServer, wsClient, wsRequest } from '../support/server.js';
import { claimsOf } from '../support/tokens.js';

let dns: TestDnsServer;
let server: TestServer;
let a: SignedUp;
let b: SignedUp;
let root: string;
const UNKNOWN_ID = '00000000-0000-4000-8000-000000000000';

beforeAll(async () => {
  dns = await startDnsServer();
  server = await startTestServer({ env: { DNS_SERVERS: dns.address } });
  [a, b] = await Promise.all([readyTenant(server, 'alpha'), readyTenant(server, 'bravo')]);
  await createProduct(server, { token: a.token }, 'A-ONLY');
  await createProduct(server, { token: b.token }, 'B-ONLY');
  await verifiedDomain(server, dns, { token: b.token }, 'shop.bravo-store.example');
  // Claimed, never verified: names no tenant.
  const claim = await gql(server, 'mutation { addDomain(hostname: "claimed.bravo-store.example") { id } }', {}, { token: b.token });
  expect(claim.body.errors).toBeUndefined();
  root = await superadminToken(server);
});
afterAll(async () => {
  await server.close();
  await dns.close();
});

const SKUS = '{ products { edges { node { sku } } } }';
const skus = (r: GqlResponse) => r.body.data?.products.edges.map((e: { node: { sku: string } }) => e.node.sku);

function expectFailure(r: GqlResponse, code: string, status: number) {
  expect({ status: r.status, code: codeOf(r), data: r.body.data ?? null }).toEqual({ status, code, data: null });
}

const audits = async (tenantId: string, actorId: string) =>
  (await server.db.owner.query('select target from audit_event where action = $1 and tenant_id = $2 and actor_id = $3', ['superadmin.tenantAccess', tenantId, actorId])).rows;

describe('a tenant token', () => {
  test('acts in its own tenant and sees only its data', async () => {
    const r = await gql(server, SKUS, {}, { token: a.token });
    expect(r.status).toBe(200);
    expect(skus(r)).toEqual(['A-ONLY']);
  });

  test('with x-tenant-id of another tenant (id or slug) gives TENANT_MISMATCH (403) and no data', async () => {
    for (const tenant of [b.tenantId, 'bravo', b.tenantId.toUpperCase()]) {
      const r = await gql(server, SKUS, {}, { token: a.token, tenant });
      expectFailure(r, 'TENANT_MISMATCH', 403);
      expect(JSON.stringify(r.body)).not.toContain('ONLY');
    }
  });

  test('with the Host of another tenant (subdomain or custom domain) gives TENANT_MISMATCH (403)', async () => {
    for (const host of [`bravo.${BASE_DOMAIN}`, 'shop.bravo-store.example', 'SHOP.Bravo-Store.example:8443']) {
      const r = await gql(server, SKUS, {}, { token: a.token, host });
      expectFailure(r, 'TENANT_MISMATCH', 403);
      expect(JSON.stringify(r.body)).not.toContain('ONLY');
    }
  });

  test('with a mismatching header, mutations write nothing', async () => {
    const r = await gql(server, 'mutation { createCustomer(input: {name: "Intruder"}) { id } }', {}, { token: a.token, tenant: 'bravo' });
    expectFailure(r, 'TENANT_MISMATCH', 403);
    const { rows } = await server.db.owner.query('select tenant_id from customer where name = $1', ['Intruder']);
    expect(rows).toEqual([]);
  });

  test('with a mismatching header, even me and currentTenant fail', async () => {
    expectFailure(await gql(server, '{ me { id } currentTenant { id } }', {}, { token: a.token, tenant: 'bravo' }), 'TENANT_MISMATCH', 403);
  });

  test('with x-tenant-id or Host naming its own tenant (id, slug, subdomain) works', async () => {
    const own: GqlOptions[] = [{ tenant: a.tenantId }, { tenant: 'alpha' }, { host: `alpha.${BASE_DOMAIN}` }, { tenant: 'alpha', host: `alpha.${BASE_DOMAIN}` }];
    for (const options of own) {
      const r = await gql(server, SKUS, {}, { token: a.token, ...options });
      expect({ options, status: r.status, skus: skus(r) }).toEqual({ options, status: 200, skus: ['A-ONLY'] });
    }
  });

  test("with a Host that names no tenant (an IP, an unrelated name, another tenant's unverified claim) works in its own tenant", async () => {
    for (const host of ['127.0.0.1', 'api.example.org', `www.${BASE_DOMAIN}`, 'claimed.bravo-store.example']) {
      const r = await gql(server, SKUS, {}, { token: a.token, host });
      expect({ host, skus: skus(r) }).toEqual({ host, skus: ['A-ONLY'] });
    }
  });

  test('with x-tenant-id naming no tenant gives TENANT_NOT_FOUND (404)', async () => {
    for (const tenant of [UNKNOWN_ID, 'no-such-tenant']) {
      expectFailure(await gql(server, SKUS, {}, { token: a.token, tenant }), 'TENANT_NOT_FOUND', 404);
    }
  });

  test('over WebSocket with connectionParams x-tenant-id of another tenant gives TENANT_MISMATCH and no data', async () => {
    const client = wsClient(server, { token: a.token, tenant: 'bravo' });
    try {
      const r = await wsRequest(client, SKUS);
      expect(r.data ?? null).toBeNull();
      expect(r.errors?.map((e) => e.extensions?.code)).toEqual(['TENANT_MISMATCH']);
      const mutation = await wsRequest(client, 'mutation { createCustomer(input: {name: "WS intruder"}) { id } }');
      expect(mutation.errors?.[0].extensions?.code).toBe('TENANT_MISMATCH');
    } finally {
      await client.dispose();
    }
    const { rows } = await server.db.owner.query('select 1 from customer where name = $1', ['WS intruder']);
    expect(rows).toEqual([]);
  });

  test('over WebSocket with connectionParams x-tenant-id of its own tenant works', async () => {
    const client = wsClient(server, { token: a.token, tenant: 'alpha' });
    try {
      const r = await wsRequest(client, SKUS);
      expect(r.errors).toBeUndefined();
      expect(r.data.products.edges).toEqual([{ node: { sku: 'A-ONLY' } }]);
    } finally {
      await client.dispose();
    }
  });
});

describe('without a token', () => {
  test('tenant data gives UNAUTHENTICATED (401) even when the tenant is named', async () => {
    for (const query of [SKUS, '{ customers { totalCount } }', '{ orders { totalCount } }', '{ users { id } }']) {
      for (const options of [{}, { tenant: 'alpha' }, { host: `alpha.${BASE_DOMAIN}` }] as GqlOptions[]) {
        const r = await gql(server, query, {}, options);
        expect({ query, options, status: r.status, code: codeOf(r), data: r.body.data ?? null }).toEqual({ query, options, status: 401, code: 'UNAUTHENTICATED', data: null });
      }
    }
  });

  test('currentTenant gives UNAUTHENTICATED (401): a failed nullable root field alone is no data', async () => {
    for (const options of [{}, { tenant: 'alpha' }] as GqlOptions[]) {
      const r = await gql(server, '{ currentTenant { id } }', {}, options);
      expect(r.status).toBe(401);
      expect(r.body.data ?? { currentTenant: null }).toEqual({ currentTenant: null });
      expect(codeOf(r)).toBe('UNAUTHENTICATED');
    }
  });

  test('me is null', async () => {
    const r = await gql(server, '{ me { id } }', {}, { tenant: 'alpha' });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ data: { me: null } });
  });

  test('a header naming no tenant gives TENANT_NOT_FOUND (404)', async () => {
    expectFailure(await gql(server, SKUS, {}, { tenant: 'no-such-tenant' }), 'TENANT_NOT_FOUND', 404);
    expectFailure(await gql(server, SKUS, {}, { tenant: UNKNOWN_ID }), 'TENANT_NOT_FOUND', 404);
  });
});

describe('a superadmin token', () => {
  test('without a tenant gets TENANT_REQUIRED (400) on tenant data', async () => {
    for (const query of [SKUS, '{ customers { totalCount } }', '{ orders { totalCount } }', '{ users { id } }']) {
      const r = await gql(server, query, {}, { token: root });
      expect({ query, status: r.status, code: codeOf(r), data: r.body.data ?? null }).toEqual({ query, status: 400, code: 'TENANT_REQUIRED', data: null });
    }
  });

  test('without a tenant writes nothing to any tenant', async () => {
    const r = await gql(server, 'mutation { createCustomer(input: {name: "Nowhere"}) { id } }', {}, { token: root });
    expectFailure(r, 'TENANT_REQUIRED', 400);
    const { rows } = await server.db.owner.query('select 1 from customer where name = $1', ['Nowhere']);
    expect(rows).toEqual([]);
  });

  test("with x-tenant-id sees that tenant's data, and the access is audited", async () => {
    const actor = claimsOf(root).sub;
    const before = await audits(b.tenantId, actor);
    const r = await gql(server, SKUS, {}, { token: root, tenant: b.tenantId });
    expect(r.status).toBe(200);
    expect(skus(r)).toEqual(['B-ONLY']);
    const after = await audits(b.tenantId, actor);
    expect(after.length).toBe(before.length + 1);
  });

  test("with x-tenant-id as a slug or with the tenant's Host acts in that tenant, audited each time", async () => {
    const actor = claimsOf(root).sub;
    const before = await audits(a.tenantId, actor);
    for (const options of [{ tenant: 'alpha' }, { host: `alpha.${BASE_DOMAIN}` }] as GqlOptions[]) {
      const r = await gql(server, SKUS, {}, { token: root, ...options });
      expect({ options, skus: skus(r) }).toEqual({ options, skus: ['A-ONLY'] });
    }
    expect((await audits(a.tenantId, actor)).length).toBe(before.length + 2);
  });

  test('acting in a tenant over WebSocket is audited too', async () => {
    const actor = claimsOf(root).sub;
    const before = await audits(b.tenantId, actor);
    const client = wsClient(server, { token: root, tenant: 'bravo' });
    try {
      const r = await wsRequest(client, SKUS);
      expect(r.data.products.edges).toEqual([{ node: { sku: 'B-ONLY' } }]);
    } finally {
      await client.dispose();
    }
    expect((await audits(b.tenantId, actor)).length).toBe(before.length + 1);
  });

  test('without a tenant is not audited as tenant access', async () => {
    const actor = claimsOf(root).sub;
    const before = (await server.db.owner.query('select count(*)::int as n from audit_event where action = $1 and actor_id = $2', ['superadmin.tenantAccess', actor])).rows[0].n;
    await gql(server, '{ me { id } }', {}, { token: root });
    const after = (await server.db.owner.query('select count(*)::int as n from audit_event where action = $1 and actor_id = $2', ['superadmin.tenantAccess', actor])).rows[0].n;
    expect(after).toBe(before);
  });

  test('with x-tenant-id naming no tenant gets TENANT_NOT_FOUND (404)', async () => {
    expectFailure(await gql(server, SKUS, {}, { token: root, tenant: 'no-such-tenant' }), 'TENANT_NOT_FOUND', 404);
    expectFailure(await gql(server, SKUS, {}, { token: root, host: `no-such-tenant.${BASE_DOMAIN}` }), 'TENANT_NOT_FOUND', 404);
  });

  test("with a verified custom domain's Host acts in its tenant; with an unverified claim's, in none", async () => {
    const r = await gql(server, SKUS, {}, { token: root, host: 'shop.bravo-store.example' });
    expect(skus(r)).toEqual(['B-ONLY']);
    expectFailure(await gql(server, SKUS, {}, { token: root, host: 'claimed.bravo-store.example' }), 'TENANT_REQUIRED', 400);
  });
});

describe('over WebSocket, the Host of the upgrade request', () => {
  const onWs = async (token: string, host: string) => {
    const client = wsClient(server, { token }, { host });
    try {
      return await wsRequest(client, SKUS);
    } finally {
      await client.dispose();
    }
  };

  test('names the tenant for a superadmin', async () => {
    const r = await onWs(root, `bravo.${BASE_DOMAIN}`);
    expect(r.errors).toBeUndefined();
    expect(r.data.products.edges.map((e: { node: { sku: string } }) => e.node.sku)).toEqual(['B-ONLY']);
  });

  test('of another tenant is TENANT_MISMATCH for a tenant token', async () => {
    const r = await onWs(a.token, `shop.bravo-store.example`);
    expect(r.errors?.[0].extensions?.code).toBe('TENANT_MISMATCH');
    expect(r.data ?? null).toBeNull();
  });
});

describe('the Host lookup before any tenant is known', () => {
  /** One query as the app role on a connection of its own, no tenant setting, no escape hatch. */
  async function asApp<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    const client = new pg.Client({ connectionString: server.db.appUrl });
    await client.connect();
    try {
      return (await client.query(sql, params)).rows as T[];
    } finally {
      await client.end();
    }
  }

  test('an anonymous request on a custom domain finds its tenant without opening the escape hatch', async () => {
    const before = (await server.db.owner.query('select count(*)::int as n from audit_event')).rows[0].n;
    const r = await gql(server, 'mutation($i: LoginInput!) { login(input: $i) { tenant { slug } } }', { i: { email: 'admin@bravo.example.com', password: PASSWORD } }, { host: 'shop.bravo-store.example' });
    expect(r.body.data.login.tenant).toEqual({ slug: 'bravo' });
    expect((await server.db.owner.query('select count(*)::int as n from audit_event')).rows[0].n).toBe(before);
  });

  test('the app role reads no domain row without a tenant (RLS), but the lookup function answers with the tenant id of a verified, active hostname', async () => {
    await expect(asApp('select hostname from domain')).rejects.toThrow(/app\.tenant_id/);
    expect(await asApp(`select ${HOST_LOOKUP_FUNCTION}($1) as tenant`, ['shop.bravo-store.example'])).toEqual([{ tenant: b.tenantId }]);
    expect(await asApp(`select ${HOST_LOOKUP_FUNCTION}($1) as tenant`, ['nowhere.example'])).toEqual([{ tenant: null }]);
  });

  test('an unverified claim names no tenant through the lookup function', async () => {
    expect(await asApp(`select ${HOST_LOOKUP_FUNCTION}($1) as tenant`, ['claimed.bravo-store.example'])).toEqual([{ tenant: null }]);
  });

  test('a verified domain that is inactive names no tenant', async () => {
    await server.db.owner.query(
      `insert into domain (id, tenant_id, hostname, is_primary, is_active, verified_at, created_at) values (gen_random_uuid(), $1, 'old.bravo-store.example', false, false, now(), now())`,
      [b.tenantId],
    );
    expect(await asApp(`select ${HOST_LOOKUP_FUNCTION}($1) as tenant`, ['old.bravo-store.example'])).toEqual([{ tenant: null }]);
    const r = await gql(server, '{ currentTenant { id } }', {}, { token: a.token, host: 'old.bravo-store.example' });
    expect(r.body.data.currentTenant).toEqual({ id: a.tenantId }); // an unknown host is ignored, no TENANT_MISMATCH
  });

  test('an active domain that is not verified names no tenant, even where the check keeping active domains verified is gone', async () => {
    // Rolled back: the row cannot exist while `domain_routes_only_verified` holds, so the lookup's own
    // condition is what this proves.
    const client = await server.db.owner.connect();
    try {
      await client.query('begin');
      await client.query('alter table domain drop constraint domain_routes_only_verified');
      await client.query(
        `insert into domain (id, tenant_id, hostname, is_primary, is_active, verification_token, verification_expires_at, created_at)
         values (gen_random_uuid(), $1, 'unproven.bravo-store.example', false, true, 'token', now() + interval '1 day', now())`,
        [b.tenantId],
      );
      await client.query(`set local role ${APP_ROLE}`);
      const { rows } = await client.query(`select ${HOST_LOOKUP_FUNCTION}($1) as tenant`, ['unproven.bravo-store.example']);
      expect(rows).toEqual([{ tenant: null }]);
    } finally {
      await client.query('rollback');
      client.release();
    }
  });
});
