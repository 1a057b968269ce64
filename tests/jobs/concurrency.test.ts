import type { Client } from 'graphql-ws';
import { ProvisioningQueue } from '../../src/jobs/provisioningQueue.js';
import { createLogger } from '../../src/server/logger.js';
import { signUp, superadminToken } from '../support/fixtures.js';
import { BASE_DOMAIN, startTestServer, type TestServer, wsClient } from '../support/server.js';
import { eventually } from '../support/eventually.js';
import { watchStatus } from './helpers.js';

let server: TestServer;
let secondWorker: ProvisioningQueue;
let admin: Client;

beforeAll(async () => {
  // Two workers on the queue: the server's own and a second pg-boss instance, as a second process would be.
  server = await startTestServer({ provisioning: { superviseIntervalSeconds: 1 } });
  secondWorker = await ProvisioningQueue.start(server.db.appUrl, server.orm, createLogger('silent'), { baseDomain: BASE_DOMAIN });
  await secondWorker.work();
});
afterAll(async () => {
  await admin?.dispose();
  await secondWorker?.stop();
  await server?.close();
});

test('100 concurrent sign-ups all reach READY, each announced live, each prepared exactly once by one of two workers', async () => {
  admin = wsClient(server, { token: await superadminToken(server) });
  const before = server.app.events.listenerCount;
  const all = watchStatus(admin);
  await eventually(async () => server.app.events.listenerCount > before, 5_000, 'all-tenants subscription registered');

  const slugs = Array.from({ length: 100 }, (_, i) => `many-${String(i).padStart(3, '0')}`);
  const started = Date.now();
  const tenants = await Promise.all(slugs.map((slug) => signUp(server, slug)));
  const ids = new Set(tenants.map((t) => t.tenantId));
  expect(ids.size).toBe(100);

  await eventually(async () => new Set(all.events().filter((e) => e.status === 'READY').map((e) => e.tenantId)).size === 100, 30_000, 'all READY events');
  const elapsed = Date.now() - started;
  for (const id of ids) expect(all.statuses(id)).toEqual(['PENDING', 'PREPARING', 'READY']);

  const { rows } = await server.db.owner.query(
    `select count(*) filter (where t.status = 'READY')::int as ready,
            (select count(*) from domain d where d.tenant_id = any($1::uuid[]))::int as domains,
            (select count(*) from order_counter c where c.tenant_id = any($1::uuid[]))::int as counters,
            (select count(*) from pgboss.job j where j.name = 'tenant-prepare' and j.singleton_key = any($2::text[]))::int as jobs
       from tenant t where t.id = any($1::uuid[])`,
    [[...ids], [...ids]],
  );
  expect(rows[0]).toEqual({ ready: 100, domains: 100, counters: 100, jobs: 100 });
  expect(elapsed).toBeLessThan(30_000);
}, 45_000);
