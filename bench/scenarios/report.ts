import pg from 'pg';
import { enableAppRoleLogin, migrate } from '../../src/db/database.js';
import { createOrm } from '../../src/db/orm.js';
import { ms, percentile, sample, type BenchRow, type Scenario } from '../harness.js';
import { PlatformResolver } from '../../src/schema/resolvers/platform.js';
import type { RequestContext } from '../../src/context/requestContext.js';

const TENANTS = [10, 5000];

/**
 * `tenantReport` is one set-based statement however many tenants there are. Measured through the
 * resolver (escape hatch, audit write, hydration) at 10 and 5,000 tenants (≈ 5 customers and 20 orders
 * each), against the bare SQL aggregate on `pg` at 5,000 as the floor.
 */
export const reportScenario: Scenario = {
  name: 'report',
  async run(bench) {
    const rows: BenchRow[] = [];
    const latency: Record<number, number[]> = {};
    let floor: number[] = [];
    for (const n of TENANTS) {
      const ownerUrl = await bench.createDatabase(`bench_report_${n}`);
      await migrate(ownerUrl);
      const appUrl = await enableAppRoleLogin(ownerUrl, 'bench-app-password');
      await seed(ownerUrl, n);
      const orm = await createOrm(appUrl);
      const resolver = new PlatformResolver();
      const ctx = { principal: { userId: '00000000-0000-4000-8000-000000000001', role: 'SUPERADMIN', tenantId: null, exp: 0 }, authError: null, services: { orm } } as unknown as RequestContext;
      latency[n] = await sample(async () => {
        const report = await resolver.tenantReport(null, null, ctx);
        if (report.length !== n) throw new Error(`report has ${report.length} rows, expected ${n}`);
      }, 20, 3);
      if (n === TENANTS.at(-1)) {
        const pool = new pg.Pool({ connectionString: ownerUrl, max: 1 });
        floor = await sample(() => pool.query(REPORT_SQL), 20, 3);
        await pool.end();
      }
      await orm.close();
    }
    const [small, large] = TENANTS;
    rows.push({
      scenario: `tenantReport: ${large} vs ${small} tenants`,
      measured: `p50 ${ms(percentile(latency[large], 50))}`,
      baseline: `p50 ${ms(percentile(latency[small], 50))}`,
      ratio: percentile(latency[large], 50) / percentile(latency[small], 50),
      note: 'one statement, no query per tenant',
    });
    rows.push({
      scenario: `tenantReport at ${large} tenants vs bare SQL`,
      measured: `p50 ${ms(percentile(latency[large], 50))}, p99 ${ms(percentile(latency[large], 99))}`,
      baseline: `p50 ${ms(percentile(floor, 50))}`,
      ratio: percentile(latency[large], 50) / percentile(floor, 50),
      note: 'resolver + escape hatch + audit vs pg',
    });
    return rows;
  },
};

const REPORT_SQL = `select t.id, coalesce(c.n, 0), coalesce(o.n, 0), coalesce(o.revenue, 0), o.last_at from tenant t
  left join (select tenant_id, count(*) n from customer group by tenant_id) c on c.tenant_id = t.id
  left join (select tenant_id, count(*) n, sum(total_cents) revenue, max(created_at) last_at from "order" where status <> 'CANCELLED' group by tenant_id) o on o.tenant_id = t.id
  order by t.created_at desc, t.id desc`;

async function seed(ownerUrl: string, tenants: number): Promise<void> {
  const pool = new pg.Pool({ connectionString: ownerUrl, max: 1 });
  await pool.query(`insert into tenant (id, name, slug, status, created_at)
    select gen_random_uuid(), 'Tenant ' || i, 't' || i, 'READY', now() - i * interval '1 second' from generate_series(1, $1) i`, [tenants]);
  await pool.query(`insert into customer (tenant_id, id, name, created_at) select t.id, gen_random_uuid(), 'C' || k, now() from tenant t, generate_series(1, 5) k`);
  await pool.query(`insert into "order" (tenant_id, id, number, status, customer_id, total_cents, created_at)
    select c.tenant_id, gen_random_uuid(), row_number() over (partition by c.tenant_id), (array['OPEN','PAID','CANCELLED'])[1 + k % 3]::order_status, c.id, 100 * k, now()
      from customer c, generate_series(1, 4) k`);
  await pool.query('analyze');
  await pool.end();
}
