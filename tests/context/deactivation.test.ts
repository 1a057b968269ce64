/**
 * Tenant deactivation applies to the very next request on every process: a request's tenant is not
 * looked up before its unit of work, but read in its first round trip (src/context/currentState.ts),
 * so no process can act on a tenant state it remembers. Two real processes on one database: this test
 * process's server and a spawned `npm start`, each warmed up on the tenant first.
 */
import { type ChildApp, createPrivateTestDatabase, SET_ACTIVE, spawnApp } from '../jobs/helpers.js';
import { readyTenant, type SignedUp, superadminToken } from '../support/fixtures.js';
import { BASE_DOMAIN, codeOf, gql, type GqlOptions, startTestServer, type TestServer } from '../support/server.js';

let db: Awaited<ReturnType<typeof createPrivateTestDatabase>>;
let here: TestServer;
let there: ChildApp;
let tenant: SignedUp;
let root: string;

beforeAll(async () => {
  db = await createPrivateTestDatabase();
  here = await startTestServer({ db });
  there = await spawnApp('server', db, { RUN_WORKER: 'false' });
  tenant = await readyTenant(here, 'flip');
  root = await superadminToken(here);
}, 30_000);

afterAll(async () => {
  await there?.stop();
  await here?.close();
  await db?.destroy();
});

const SKUS = '{ products { edges { node { sku } } } }';
/** The tenant's own user (token), and a superadmin naming it by x-tenant-id and by Host. */
const callers = (): [string, GqlOptions][] => [
  ['token', { token: tenant.token }],
  ['superadmin with x-tenant-id', { token: root, tenant: 'flip' }],
  ['superadmin on the tenant host', { token: root, host: `flip.${BASE_DOMAIN}` }],
];

async function setActive(server: { url: string }, isActive: boolean): Promise<void> {
  const r = await gql(server, SET_ACTIVE, { id: tenant.tenantId, active: isActive }, { token: root });
  expect(r.body.data?.setTenantActive.isActive).toBe(isActive);
}

test('deactivated through one process, the tenant is TENANT_INACTIVE on the very next request to the other; reactivated, it works at once', async () => {
  for (const [through, on] of [[here, there], [there, here]] as const) {
    for (const [, opts] of callers()) expect((await gql(on, SKUS, {}, opts)).status).toBe(200); // both processes warmed up
    await setActive(through, false);
    for (const [who, opts] of callers()) {
      const r = await gql(on, SKUS, {}, opts);
      expect({ who, status: r.status, code: codeOf(r) }).toEqual({ who, status: 403, code: 'TENANT_INACTIVE' });
    }
    await setActive(through, true);
    for (const [who, opts] of callers()) expect({ who, status: (await gql(on, SKUS, {}, opts)).status }).toEqual({ who, status: 200 });
  }
});
