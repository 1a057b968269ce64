import { readFile } from 'node:fs/promises';
import { buildTenantrySchema, printTenantrySchema } from '../../src/schema/build.js';
import { createCustomer, createOrder, createProduct, readyTenant, superadminToken, type SignedUp } from '../support/fixtures.js';
import { codeOf, gql, startTestServer, type TestServer, wsClient, wsRequest, wsSubscribe } from '../support/server.js';

let server: TestServer;
let admin: SignedUp;
let other: SignedUp;
let root: string;

beforeAll(async () => {
  server = await startTestServer();
  [admin, other] = await Promise.all([readyTenant(server, 'sa-one'), readyTenant(server, 'sa-two')]);
  root = await superadminToken(server);
});
afterAll(() => server.close());

describe('the @superadmin directive', () => {
  test('is declared and printed where it is used in the committed schema.graphql, which is current', async () => {
    const printed = printTenantrySchema(await buildTenantrySchema());
    expect(printed).toContain('directive @superadmin on OBJECT | FIELD_DEFINITION');
    expect(printed).toMatch(/tenants\(.*\): TenantConnection! @superadmin/);
    expect(printed).toMatch(/type TenantReport @superadmin/);
    expect(printed).toMatch(/type AuditEvent @superadmin/);
    expect(await readFile(new URL('../../schema.graphql', import.meta.url), 'utf8')).toBe(printed);
  });

  test.each([
    ['tenants', '{ tenants { totalCount } }'],
    ['tenant', `{ tenant(id: "00000000-0000-4000-8000-000000000000") { id } }`],
    ['tenantReport', '{ tenantReport { customers } }'],
    ['auditEvents', '{ auditEvents { totalCount } }'],
    ['setTenantActive', `mutation { setTenantActive(tenantId: "00000000-0000-4000-8000-000000000000", isActive: false) { id } }`],
    ['retryTenantPreparation', `mutation { retryTenantPreparation(tenantId: "00000000-0000-4000-8000-000000000000") { id } }`],
  ])('%s is FORBIDDEN (403, no data) for a tenant ADMIN over HTTP', async (_field, query) => {
    const r = await gql(server, query, {}, { token: admin.token });
    expect(codeOf(r)).toBe('FORBIDDEN');
    expect(r.status).toBe(403);
    expect(Object.values(r.body.data ?? {}).every((v) => v === null)).toBe(true);
  });

  test('is enforced over WebSocket too', async () => {
    const client = wsClient(server, { token: admin.token });
    try {
      const r = await wsRequest(client, '{ tenants { totalCount } }');
      expect(r.errors?.[0].extensions?.code).toBe('FORBIDDEN');
      expect(r.data ?? null).toBeNull();
    } finally {
      await client.dispose();
    }
  });

  test('guards fields returning a marked type wherever they appear', async () => {
    // auditEvents returns AuditEvent (marked); even nested selections of it are refused.
    const r = await gql(server, '{ me { email } auditEvents { edges { node { action } } } }', {}, { token: admin.token });
    expect(codeOf(r)).toBe('FORBIDDEN');
    expect(r.body.data?.me ?? null).toBeNull(); // a non-public operation as a whole still runs…
  });

  test('without a token the marked field is UNAUTHENTICATED', async () => {
    const r = await gql(server, '{ tenants { totalCount } }');
    expect(codeOf(r)).toBe('UNAUTHENTICATED');
  });
});

describe('cross-tenant reporting', () => {
  test('tenants lists every tenant, newest first, for a superadmin without a tenant', async () => {
    const r = await gql(server, '{ tenants(first: 100) { totalCount edges { node { slug status } } } }', {}, { token: root });
    const slugs = r.body.data.tenants.edges.map((e: any) => e.node.slug);
    expect(slugs.indexOf('sa-two')).toBeGreaterThanOrEqual(0);
    expect(r.body.data.tenants.totalCount).toBe(slugs.length);
    const { rows } = await server.db.owner.query('select slug from tenant order by created_at desc, id desc');
    expect(slugs).toEqual(rows.map((x: any) => x.slug));
  });

  test.each([
    ['tenants', `select id from tenant order by created_at desc, id desc`],
    ['auditEvents', `select id from audit_event order by at desc, id desc`],
  ])('%s pages newest first with cursors: no row twice, none skipped', async (field, sql) => {
    const ids: string[] = [];
    let after: string | null = null;
    do {
      const r: any = await gql(server, `query($a: String) { ${field}(first: 1, after: $a) { pageInfo { hasNextPage endCursor } edges { node { id } } } }`, { a: after }, { token: root });
      expect(r.body.errors).toBeUndefined();
      ids.push(...r.body.data[field].edges.map((e: any) => e.node.id));
      after = r.body.data[field].pageInfo.hasNextPage ? r.body.data[field].pageInfo.endCursor : null;
    } while (after && ids.length < 10);
    // Reading the audit log audits the read: newer events appear above the first page while paging.
    const { rows } = await server.db.owner.query(sql);
    const order = rows.map((x: any) => x.id);
    const start = order.indexOf(ids[0]);
    expect(ids.length).toBeGreaterThanOrEqual(2);
    expect(ids).toEqual(order.slice(start, start + ids.length));
  });

  test('tenant(id) of an unknown tenant is NOT_FOUND; a known one is returned', async () => {
    const missing = await gql(server, `{ tenant(id: "00000000-0000-4000-8000-000000000000") { id } }`, {}, { token: root });
    expect(codeOf(missing)).toBe('NOT_FOUND');
    const found = await gql(server, `query($id: ID!) { tenant(id: $id) { slug domains { hostname } } }`, { id: other.tenantId }, { token: root });
    expect(found.body.data.tenant).toEqual({ slug: 'sa-two', domains: [{ hostname: 'sa-two.tenantry.test' }] });
  });

  test('tenantReport counts per tenant in [from, to), excluding CANCELLED orders, zeros included', async () => {
    const opts = { token: admin.token };
    const p = await createProduct(server, opts, 'REP-1', 1000);
    const c1 = await createCustomer(server, opts, 'R1');
    await createCustomer(server, opts, 'R2');
    await createOrder(server, opts, c1, [{ productId: p, quantity: 2 }]);
    const cancelled = await createOrder(server, opts, c1, [{ productId: p, quantity: 5 }]);
    await gql(server, `mutation($id: ID!) { setOrderStatus(id: $id, status: CANCELLED) { id } }`, { id: cancelled.id }, opts);
    const empty = await readyTenant(server, 'sa-empty');

    const r = await gql(server, '{ tenantReport { tenant { id } customers orders revenueCents lastOrderAt } }', {}, { token: root });
    const byId = new Map(r.body.data.tenantReport.map((row: any) => [row.tenant.id, row]));
    expect(byId.get(admin.tenantId)).toMatchObject({ customers: 2, orders: 1, revenueCents: 2000 });
    expect((byId.get(admin.tenantId) as any).lastOrderAt).not.toBeNull();
    expect(byId.get(empty.tenantId)).toMatchObject({ customers: 0, orders: 0, revenueCents: 0, lastOrderAt: null });

    const future = new Date(Date.now() + 3600_000).toISOString();
    const later = await gql(server, 'query($f: DateTime) { tenantReport(from: $f) { tenant { id } customers orders revenueCents } }', { f: future }, { token: root });
    const mine = later.body.data.tenantReport.find((row: any) => row.tenant.id === admin.tenantId);
    expect(mine).toMatchObject({ customers: 2, orders: 0, revenueCents: 0 });
  });

  test('every cross-tenant read is audited, and auditEvents lists newest first', async () => {
    await gql(server, '{ tenants { totalCount } }', {}, { token: root });
    const r = await gql(server, '{ auditEvents(first: 5) { edges { node { action actorId at } } } }', {}, { token: root });
    const events = r.body.data.auditEvents.edges.map((e: any) => e.node);
    expect(events[0].action).toBe('audit.read');
    expect(events.map((e: any) => e.action)).toContain('tenant.list');
    const times = events.map((e: any) => Date.parse(e.at));
    expect([...times].sort((x, y) => y - x)).toEqual(times);
  });

  test('setTenantActive(false) locks the tenant’s users out with TENANT_INACTIVE, and back', async () => {
    const off = await gql(server, `mutation($id: ID!) { setTenantActive(tenantId: $id, isActive: false) { isActive } }`, { id: other.tenantId }, { token: root });
    expect(off.body.data.setTenantActive.isActive).toBe(false);
    const denied = await gql(server, '{ me { email } }', {}, { token: other.token });
    expect(codeOf(denied)).toBe('TENANT_INACTIVE');
    expect(denied.status).toBe(403);
    await gql(server, `mutation($id: ID!) { setTenantActive(tenantId: $id, isActive: true) { isActive } }`, { id: other.tenantId }, { token: root });
    const back = await gql(server, '{ me { email } }', {}, { token: other.token });
    expect(back.body.data.me.email).toBe('admin@sa-two.example.com');
    const { rows } = await server.db.owner.query(`select action from audit_event where tenant_id = $1 and action like 'tenant.%activate' order by at`, [other.tenantId]);
    expect(rows.map((x: any) => x.action)).toEqual(['tenant.deactivate', 'tenant.activate']);
  });

  test('retryTenantPreparation of a READY tenant is CONFLICT', async () => {
    const r = await gql(server, `mutation($id: ID!) { retryTenantPreparation(tenantId: $id) { status } }`, { id: other.tenantId }, { token: root });
    expect(codeOf(r)).toBe('CONFLICT');
  });

  test('a tenant user cannot subscribe to every tenant’s status (directive on subscribe is not needed: TENANT_MISMATCH)', async () => {
    const client = wsClient(server, { token: admin.token });
    try {
      const sub = wsSubscribe(client, 'subscription($t: ID) { tenantStatusChanged(tenantId: $t) { status } }', { t: other.tenantId });
      const results = await sub.waitFor(1);
      expect(results[0].errors?.[0].extensions?.code).toBe('TENANT_MISMATCH');
    } finally {
      await client.dispose();
    }
  });
});

describe("a superadmin's reads of platform and tenant-tagged rows", () => {
  const audited = async (action: string, actorId: string) =>
    (await server.db.owner.query('select tenant_id, target from audit_event where action = $1 and actor_id = $2', [action, actorId])).rows;

  test('me reads the superadmin (a platform row) through the audited escape hatch, in a tenant or not', async () => {
    const actorId = (await gql(server, '{ me { id } }', {}, { token: root })).body.data.me.id;
    await server.db.owner.query(`delete from audit_event where action = 'superadmin.me'`);
    for (const options of [{ token: root }, { token: root, tenant: 'sa-one' }]) {
      const r = await gql(server, '{ me { id email role tenant { id } } }', {}, options);
      expect(r.body.data.me).toEqual({ id: actorId, email: 'root@platform.example.com', role: 'SUPERADMIN', tenant: null });
    }
    expect(await audited('superadmin.me', actorId)).toHaveLength(2);
  });

  test("other tenants' domains are read through the escape hatch, one audited read per batch, also from inside a tenant", async () => {
    const actorId = (await gql(server, '{ me { id } }', {}, { token: root })).body.data.me.id;
    await server.db.owner.query(`delete from audit_event where action = 'domain.read'`);
    const r = await gql(server, '{ tenants(first: 50) { edges { node { slug domains { hostname } } } } }', {}, { token: root, tenant: 'sa-one' });
    const bySlug = new Map(r.body.data.tenants.edges.map((e: any) => [e.node.slug, e.node.domains]));
    expect(bySlug.get('sa-one')).toEqual([{ hostname: 'sa-one.tenantry.test' }]);
    expect(bySlug.get('sa-two')).toEqual([{ hostname: 'sa-two.tenantry.test' }]);
    expect(await audited('domain.read', actorId)).toHaveLength(1);
  });
});
