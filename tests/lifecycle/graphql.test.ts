/**
 * Issue 12 through the API: exportTenant as a job on the real queue, followed over a real WebSocket,
 * fetched by its signed link over real HTTP; deleteTenant making a tenant's tokens, refresh tokens,
 * sockets and hostnames stop working at once; superadmins only.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import http from 'node:http';
import { signDownloadUrl } from '../../src/lifecycle/downloads.js';
import { exportFile } from '../../src/lifecycle/exports.js';
import { readyTenant, superadminToken } from '../support/fixtures.js';
import { prepareTenant } from '../../src/jobs/prepareTenant.js';
import { BASE_DOMAIN, codeOf, gql, JWT_SECRET, startTestServer, type TestServer, wsClient, wsRequest, wsSubscribe } from '../support/server.js';
import { tenantWithDataEverywhere } from './support.js';

let server: TestServer;
let root: string;

beforeAll(async () => {
  server = await startTestServer();
  root = await superadminToken(server);
});

afterAll(() => server?.close());

const EXPORT = `mutation($id: ID!) { exportTenant(id: $id) { id tenantId status } }`;
const DELETE = `mutation($id: ID!, $slug: String!) { deleteTenant(id: $id, confirmSlug: $slug) { id status deletion { slug requestedAt finishedAt rows { table rows } } } }`;
const PROGRESS = `subscription($id: ID!) { tenantExportProgress(exportId: $id) { id status rows totalRows bytes sha256 downloadUrl } }`;

/** GET on the test server: status, headers and body bytes. */
function get(pathAndQuery: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  const base = new URL(server.url);
  return new Promise((resolve, reject) => {
    http.get({ hostname: base.hostname, port: base.port, path: pathAndQuery }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    }).on('error', reject);
  });
}

test('MEMBER and ADMIN get FORBIDDEN on every lifecycle field, over HTTP and WebSocket', async () => {
  const t = await readyTenant(server, 'lc-roles');
  const member = await gql(server, `mutation { createUser(input: {email: "m@lc-roles.example.com", password: "member password 1", role: MEMBER}) { id } }`, {}, { token: t.token });
  expect(member.body.errors).toBeUndefined();
  const login = await gql(server, `mutation { login(input: {email: "m@lc-roles.example.com", password: "member password 1", tenant: "lc-roles"}) { accessToken } }`);
  const memberToken = login.body.data.login.accessToken;
  for (const token of [t.token, memberToken]) {
    expect(codeOf(await gql(server, EXPORT, { id: t.tenantId }, { token }))).toBe('FORBIDDEN');
    expect(codeOf(await gql(server, DELETE, { id: t.tenantId, slug: 'lc-roles' }, { token }))).toBe('FORBIDDEN');
    expect(codeOf(await gql(server, `{ tenantExport(id: "${t.tenantId}") { id } }`, {}, { token }))).toBe('FORBIDDEN');
    const ws = wsClient(server, { token });
    try {
      const sub = wsSubscribe(ws, PROGRESS, { id: t.tenantId });
      await sub.waitFor(1);
      expect(sub.results[0].errors?.[0].extensions?.code).toBe('FORBIDDEN');
      expect((await wsRequest(ws, EXPORT, { id: t.tenantId })).errors?.[0].extensions?.code).toBe('FORBIDDEN');
    } finally {
      await ws.dispose();
    }
  }
  const { rows } = await server.db.owner.query(`select status from tenant where id = $1`, [t.tenantId]);
  expect(rows).toEqual([{ status: 'READY' }]);
});

test('exportTenant runs as a job: progress over WebSocket until READY, the archive by its signed link, the link bound to its export, tenant and expiry', async () => {
  const t = await tenantWithDataEverywhere(server, 'lc-export');
  const started = await gql(server, EXPORT, { id: t.tenantId }, { token: root });
  expect(started.body.data.exportTenant).toMatchObject({ tenantId: t.tenantId, status: expect.stringMatching(/QUEUED|RUNNING/) });
  const exportId = started.body.data.exportTenant.id;

  const ws = wsClient(server, { token: root });
  try {
    const sub = wsSubscribe(ws, PROGRESS, { id: exportId });
    for (;;) {
      await sub.waitFor(sub.results.length + 1, 20_000);
      if (sub.completed) break;
    }
    expect(sub.results.filter((r) => r.errors)).toEqual([]);
    const events = sub.results.map((r) => r.data?.tenantExportProgress);
    const last = events.at(-1);
    expect(last).toMatchObject({ id: exportId, status: 'READY', rows: last.totalRows, bytes: expect.any(Number), downloadUrl: expect.stringMatching(/^\/exports\//) });
    expect(last.totalRows).toBeGreaterThan(10);

    const download = await get(last.downloadUrl);
    expect(download.status).toBe(200);
    expect(download.headers['content-type']).toBe('application/gzip');
    expect(download.headers['content-disposition']).toMatch(/^attachment; filename="lc-export-\d{4}-\d{2}-\d{2}\.tenantry\.tar\.gz"$/);
    expect(createHash('sha256').update(download.body).digest('hex')).toBe(last.sha256);
    const { rows: audits } = await server.db.owner.query(`select action from audit_event where tenant_id = $1 and action like 'tenant.export%' order by at`, [t.tenantId]);
    expect(audits.map((a) => a.action)).toEqual(['tenant.export', 'tenant.export.download']);

    // The link is for this export of this tenant, until it expires.
    const url = new URL(last.downloadUrl, 'http://x');
    const other = await readyTenant(server, 'lc-export-other');
    url.searchParams.set('tenant', other.tenantId);
    expect((await get(url.pathname + url.search)).status).toBe(403);
    expect((await get(last.downloadUrl.replace(/signature=.{4}/, 'signature=AAAA'))).status).toBe(403);
    expect((await get(signDownloadUrl('another secret', exportId, t.tenantId, new Date(Date.now() + 60_000)))).status).toBe(403);
    const expired = await get(signDownloadUrl(JWT_SECRET, exportId, t.tenantId, new Date(Date.now() - 1000)));
    expect({ status: expired.status, code: JSON.parse(expired.body.toString()).error.code }).toEqual({ status: 410, code: 'EXPIRED' });

    const read = await gql(server, `query($id: ID!) { tenantExport(id: $id) { status rows downloadUrl } }`, { id: exportId }, { token: root });
    expect(read.body.data.tenantExport).toMatchObject({ status: 'READY', rows: last.rows, downloadUrl: expect.stringMatching(/^\/exports\//) });
    expect(existsSync(exportFile(server.config.exports.dir, t.tenantId, exportId))).toBe(true);

    // Erasing the tenant takes its archives with it.
    expect((await gql(server, DELETE, { id: t.tenantId, slug: 'lc-export' }, { token: root })).body.errors).toBeUndefined();
    await waitForStatus(t.tenantId, 'DELETED');
    expect(existsSync(exportFile(server.config.exports.dir, t.tenantId, exportId))).toBe(false);
    expect((await get(last.downloadUrl)).status).toBe(404);
    expect(codeOf(await gql(server, EXPORT, { id: t.tenantId }, { token: root }))).toBe('CONFLICT');
  } finally {
    await ws.dispose();
  }
}, 60_000);

async function waitForStatus(tenantId: string, status: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const { rows } = await server.db.owner.query(`select status from tenant where id = $1`, [tenantId]);
    if (rows[0].status === status) return;
    if (Date.now() > deadline) throw new Error(`tenant ${tenantId} is ${rows[0].status}, not ${status}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("deleteTenant: DELETING at once, the tenant's tokens, refresh tokens, sockets and hostnames stop working; DELETED with its tombstone", async () => {
  const t = await readyTenant(server, 'lc-delete');
  const bystander = await readyTenant(server, 'lc-bystander');
  const closed: { code: number; reason: string }[] = [];
  const socket = wsClient(server, { token: t.token }, { onClose: (code, reason) => closed.push({ code, reason }) });
  const watcher = wsClient(server, { token: root });
  try {
    // A live subscription keeps the (lazy) client's socket open.
    const own = wsSubscribe(socket, `subscription { tenantStatusChanged { status } }`);
    await own.waitFor(1);
    const status = wsSubscribe(watcher, `subscription($id: ID) { tenantStatusChanged(tenantId: $id) { status } }`, { id: t.tenantId });
    await status.waitFor(1);

    expect(codeOf(await gql(server, DELETE, { id: t.tenantId, slug: 'lc-bystander' }, { token: root }))).toBe('BAD_USER_INPUT');
    const deleted = await gql(server, DELETE, { id: t.tenantId, slug: 'lc-delete' }, { token: root });
    expect(deleted.body.data.deleteTenant).toMatchObject({ status: 'DELETING', deletion: { slug: 'lc-delete', requestedAt: expect.any(String) } });

    // The tenant's token, refresh token, hostname and id no longer name anything.
    expect(codeOf(await gql(server, '{ me { email } }', {}, { token: t.token }))).toBe('UNAUTHENTICATED');
    expect(codeOf(await gql(server, `mutation($r: String!) { refreshToken(refreshToken: $r) { accessToken } }`, { r: t.refreshToken }))).toBe('UNAUTHENTICATED');
    expect(codeOf(await gql(server, `mutation { login(input: {email: "admin@lc-delete.example.com", password: "correct horse battery staple"}) { accessToken } }`, {}, { host: 'lc-delete.tenantry.test' }))).toBe('TENANT_NOT_FOUND');
    expect(codeOf(await gql(server, '{ products(first: 1) { totalCount } }', {}, { token: root, tenant: 'lc-delete' }))).toBe('TENANT_NOT_FOUND');
    for (let i = 0; i < 100 && closed.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(closed).toEqual([{ code: 4401, reason: 'TENANT_DELETED' }]);

    await waitForStatus(t.tenantId, 'DELETED');
    await status.waitFor(3);
    expect(status.results.map((r) => r.data?.tenantStatusChanged.status)).toEqual(['READY', 'DELETING', 'DELETED']);
    const tomb = await gql(server, `query($id: ID!) { tenant(id: $id) { status slug deletion { slug finishedAt rows { table rows } } } }`, { id: t.tenantId }, { token: root });
    expect(tomb.body.data.tenant).toMatchObject({ status: 'DELETED', slug: 'lc-delete', deletion: { slug: 'lc-delete', finishedAt: expect.any(String) } });
    const rows = Object.fromEntries(tomb.body.data.tenant.deletion.rows.map((r: { table: string; rows: number }) => [r.table, r.rows]));
    expect(rows).toMatchObject({ user: 1, domain: 1, refresh_token: 1, order_counter: 1 });
    // Its preparation job, were one still queued, brings nothing back.
    expect(await prepareTenant(server.orm, t.tenantId, BASE_DOMAIN)).toBe('skipped');
    const { rows: left } = await server.db.owner.query(`select (select count(*) from domain where tenant_id = $1)::int + (select count(*) from order_counter where tenant_id = $1)::int as n`, [t.tenantId]);
    expect(left).toEqual([{ n: 0 }]);
    // Idempotent, and the slug stays reserved (no one else gets its hostname).
    expect((await gql(server, DELETE, { id: t.tenantId, slug: 'lc-delete' }, { token: root })).body.data.deleteTenant.status).toBe('DELETED');
    expect(codeOf(await gql(server, `mutation { signUp(input: {tenantName: "x", slug: "lc-delete", email: "a@b.example.com", password: "correct horse battery staple"}) { accessToken } }`))).toBe('CONFLICT');
    expect((await gql(server, '{ me { email } }', {}, { token: bystander.token })).body.data.me.email).toBe('admin@lc-bystander.example.com');
  } finally {
    await socket.dispose();
    await watcher.dispose();
  }
}, 60_000);
