import { buildSchema, graphql, type GraphQLSchema } from 'graphql';
import { createSecretKey, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import jwt from 'jsonwebtoken';
import pg from 'pg';
import { signAccessToken } from '../../src/auth/accessToken.js';
import { PasswordHasher } from '../../src/auth/passwords.js';
import { loadConfig } from '../../src/config.js';
import { enableAppRoleLogin, migrate } from '../../src/db/database.js';
import { createOrm } from '../../src/db/orm.js';
import { Role } from '../../src/entities/User.js';
import { ProvisioningQueue } from '../../src/jobs/provisioningQueue.js';
import { LifecycleQueue } from '../../src/lifecycle/queue.js';
import { createApp } from '../../src/server/app.js';
import { createLogger } from '../../src/server/logger.js';
import { median, ms, percentile, type BenchRow, type Scenario } from '../harness.js';

const SECRET = 'bench-secret-bench-secret-bench-secret';
const CONCURRENCY = Number(process.env.BENCH_API_CONCURRENCY ?? 8);
const DURATION_MS = Number(process.env.BENCH_API_MS ?? 4000);
/** Requests per side in the rate limit row. */
const RATE_SAMPLES = Number(process.env.BENCH_API_RATE_SAMPLES ?? 1000);

const OPERATIONS = [
  { name: '50 products by sku', query: '{ products(first: 50) { edges { node { id sku name priceCents } } } }' },
  { name: '20 orders + customer + lines + product', query: '{ orders(first: 20) { edges { node { number totalCents customer { name } lines { quantity unitPriceCents product { name } } } } } }' },
  { name: 'one order by id', query: 'query($id: ID!) { order(id: $id) { number totalCents status } }' },
] as const;

/**
 * Tenantry's full stack (Apollo, type-graphql, context, filter, RLS, DataLoaders) against a
 * hand-written server answering the same GraphQL with graphql-js and explicit SQL on `pg`, with the
 * same per-request work: verify the JWT, one transaction, `set_config('app.tenant_id', …, true)`.
 */
export const apiScenario: Scenario = {
  name: 'api',
  async run(bench) {
    const ownerUrl = await bench.createDatabase('bench_api');
    await migrate(ownerUrl);
    const appUrl = await enableAppRoleLogin(ownerUrl, 'bench-app-password');
    const seed = await seedTenant(ownerUrl);
    const token = signAccessToken({ secret: SECRET, lifetimes: loadConfig({}).tokenLifetimes }, { id: seed.userId, role: Role.ADMIN, tenantId: seed.tenantId }).token;

    const log = createLogger('silent');
    const orm = await createOrm(appUrl, { pool: { min: 0, max: 10 } });
    const queue = await ProvisioningQueue.start(appUrl, orm, log, { baseDomain: 'bench.test' });
    // The hand-written baseline counts no rate: Tenantry's limits are off, and measured apart below.
    const tenantry = async (env: Record<string, string>) => {
      const config = loadConfig({ NODE_ENV: 'production', LOG_LEVEL: 'silent', BASE_DOMAIN: 'bench.test', ...env });
      const lifecycle = await LifecycleQueue.start(queue.boss, orm, log, { baseDomain: 'bench.test', exports: config.exports });
      return createApp({ config, orm, appUrl, jwtSecret: SECRET, log, provisioner: queue, lifecycle, passwords: new PasswordHasher(config.passwordHashing) });
    };
    const app = await tenantry({ RATE_LIMIT_PER_MINUTE: '0', TENANT_RATE_LIMIT_PER_MINUTE: '0' });
    const tenantryPort = await app.listen(0, '127.0.0.1');
    // Limits on (user and tenant keys, both counted in Postgres), high enough never to refuse.
    const limited = await tenantry({ RATE_LIMIT_PER_MINUTE: '100000000', TENANT_RATE_LIMIT_PER_MINUTE: '100000000' });
    const limitedPort = await limited.listen(0, '127.0.0.1');
    const baseline = await startBaseline(appUrl);

    const rows: BenchRow[] = [];
    try {
      for (const op of OPERATIONS.filter((o) => !process.env.BENCH_API_ONLY || o.name.includes(process.env.BENCH_API_ONLY))) {
        const body = JSON.stringify({ query: op.query, variables: { id: seed.orderId } });
        const measured = await load(tenantryPort, body, token);
        const base = await load(baseline.port, body, token);
        rows.push({
          scenario: `api: ${op.name}`,
          measured: `${measured.rps.toFixed(0)} req/s, p50 ${measured.p50.toFixed(2)} ms, p99 ${measured.p99.toFixed(2)} ms`,
          baseline: `${base.rps.toFixed(0)} req/s, p50 ${base.p50.toFixed(2)} ms, p99 ${base.p99.toFixed(2)} ms`,
          ratio: base.rps / measured.rps,
          note: `throughput ratio, ${CONCURRENCY} clients`,
        });
      }
      const rateRow = 'one order by id, rate limit on vs off';
      if (!process.env.BENCH_API_ONLY || rateRow.includes(process.env.BENCH_API_ONLY)) {
        // One request at a time, the two servers alternating, so load from elsewhere on the machine
        // hits both alike: the latency a rate-limited operation adds (its counter round trips).
        const body = JSON.stringify({ query: OPERATIONS[2].query, variables: { id: seed.orderId } });
        const agents = [new http.Agent({ keepAlive: true, maxSockets: 1 }), new http.Agent({ keepAlive: true, maxSockets: 1 })];
        const [sendOn, sendOff] = [sender(limitedPort, body, token, agents[0]), sender(tenantryPort, body, token, agents[1])];
        const on: number[] = [];
        const off: number[] = [];
        for (let i = 0; i < 100; i++) await Promise.all([sendOn(), sendOff()]); // warm-up
        for (let i = 0; i < RATE_SAMPLES; i++) {
          for (const [send, into] of [[sendOn, on], [sendOff, off]] as const) {
            const t = performance.now();
            await send();
            into.push(performance.now() - t);
          }
        }
        agents.forEach((a) => a.destroy());
        rows.push({
          scenario: `api: ${rateRow}`,
          measured: `p50 ${ms(median(on))}, p99 ${ms(percentile(on, 99))}`,
          baseline: `p50 ${ms(median(off))}, p99 ${ms(percentile(off, 99))}`,
          ratio: median(on) / median(off),
          note: `latency, one client, ${RATE_SAMPLES} interleaved requests each; user + tenant counters in Postgres vs none`,
        });
      }
      const keyRow = 'createOrder, a new Idempotency-Key vs none';
      if (!process.env.BENCH_API_ONLY || keyRow.includes(process.env.BENCH_API_ONLY)) {
        // Both on the same server, alternating: a fresh key per request (its lock, lookup and stored
        // answer: three more round trips in the transaction) against the same mutation without one.
        const body = JSON.stringify({
          query: 'mutation PlaceOrder($i: OrderInput!) { createOrder(input: $i) { id number totalCents } }',
          variables: { i: { customerId: seed.customerId, lines: [{ productId: seed.productId, quantity: 1 }] } },
        });
        const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
        const [keyed, plain] = [sender(tenantryPort, body, token, agent, () => ({ 'idempotency-key': randomUUID() })), sender(tenantryPort, body, token, agent)];
        const withKey: number[] = [];
        const without: number[] = [];
        for (let i = 0; i < 100; i++) await Promise.all([keyed(), plain()]); // warm-up
        for (let i = 0; i < RATE_SAMPLES; i++) {
          for (const [send, into] of [[keyed, withKey], [plain, without]] as const) {
            const t = performance.now();
            await send();
            into.push(performance.now() - t);
          }
        }
        agent.destroy();
        rows.push({
          scenario: `api: ${keyRow}`,
          measured: `p50 ${ms(median(withKey))}, p99 ${ms(percentile(withKey, 99))}`,
          baseline: `p50 ${ms(median(without))}, p99 ${ms(percentile(without, 99))}`,
          ratio: median(withKey) / median(without),
          note: `latency, one client, ${RATE_SAMPLES} interleaved requests each`,
        });
      }
    } finally {
      await app.close();
      await limited.close();
      await queue.stop();
      await orm.close();
      await baseline.close();
    }
    return rows;
  },
};

/** A READY tenant (SQL as the owner) with 500 products, 100 customers, 1,000 orders of 2 lines; its admin, order #500 and its customer, a product. */
export async function seedTenant(ownerUrl: string) {
  const pool = new pg.Pool({ connectionString: ownerUrl, max: 1 });
  const { rows: [t] } = await pool.query(`insert into tenant (id, name, slug, status, created_at) values (gen_random_uuid(), 'Bench', 'bench', 'READY', now()) returning id`);
  const { rows: [u] } = await pool.query(`insert into "user" (id, tenant_id, email, role, password_hash, created_at) values (gen_random_uuid(), $1, 'bench@example.com', 'ADMIN', 'x', now()) returning id`, [t.id]);
  await pool.query(`insert into product (tenant_id, id, sku, name, price_cents, created_at, updated_at)
    select $1, gen_random_uuid(), 'SKU-' || lpad(i::text, 5, '0'), 'Product ' || i, i * 10, now(), now() from generate_series(1, 500) i`, [t.id]);
  await pool.query(`insert into customer (tenant_id, id, name, email, created_at)
    select $1, gen_random_uuid(), 'Customer ' || i, 'c' || i || '@example.com', now() from generate_series(1, 100) i`, [t.id]);
  await pool.query(`insert into "order" (tenant_id, id, number, status, customer_id, total_cents, created_at)
    select $1, gen_random_uuid(), i, 'OPEN', (select id from customer where tenant_id = $1 order by name offset (i % 100) limit 1), 100, now() from generate_series(1, 1000) i`, [t.id]);
  await pool.query(`insert into order_line (tenant_id, id, order_id, product_id, quantity, unit_price_cents)
    select o.tenant_id, gen_random_uuid(), o.id, (select id from product where tenant_id = $1 order by sku offset ((o.number * k) % 500) limit 1), k, 50
      from "order" o, generate_series(1, 2) k where o.tenant_id = $1`, [t.id]);
  await pool.query(`insert into order_counter (tenant_id, id, last_number) values ($1, gen_random_uuid(), 1000)`, [t.id]);
  await pool.query('analyze');
  const { rows: [o] } = await pool.query(`select id, customer_id from "order" where tenant_id = $1 and number = 500`, [t.id]);
  const { rows: [p] } = await pool.query(`select id from product where tenant_id = $1 and sku = 'SKU-00001'`, [t.id]);
  await pool.end();
  return { tenantId: t.id as string, userId: u.id as string, orderId: o.id as string, customerId: o.customer_id as string, productId: p.id as string };
}

/** One POST of `body` with the token (and `headers()` of each request); rejects unless it is a 200 without errors. */
export function sender(port: number, body: string, token: string, agent: http.Agent, headers: () => Record<string, string> = () => ({})) {
  return () =>
    new Promise<void>((resolve, reject) => {
      const req = http.request({ port, host: '127.0.0.1', path: '/graphql', method: 'POST', agent, headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'content-length': Buffer.byteLength(body), ...headers() } }, (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => (res.statusCode === 200 && !text.includes('"errors"') ? resolve() : reject(new Error(`${res.statusCode} ${text.slice(0, 300)}`))));
      });
      req.on('error', reject);
      req.end(body);
    });
}

/** Fixed concurrency for a fixed time: throughput and latency percentiles. */
async function load(port: number, body: string, token: string) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const send = sender(port, body, token, agent);
  for (let i = 0; i < 50; i++) await send(); // warm-up
  const latencies: number[] = [];
  const deadline = performance.now() + DURATION_MS;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < deadline) {
        const t = performance.now();
        await send();
        latencies.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  return { rps: latencies.length / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

const BASELINE_SDL = `
  type Product { id: ID! sku: String! name: String! priceCents: Int! }
  type Customer { name: String! }
  type OrderLine { quantity: Int! unitPriceCents: Int! product: Product! }
  type Order { number: Int! totalCents: Int! status: String! customer: Customer! lines: [OrderLine!]! }
  type ProductEdge { node: Product! }  type ProductConnection { edges: [ProductEdge!]! }
  type OrderEdge { node: Order! }  type OrderConnection { edges: [OrderEdge!]! }
  type Query { products(first: Int): ProductConnection! orders(first: Int): OrderConnection! order(id: ID!): Order }`;

/** The hand-written server: explicit SQL, three queries for the orders page (page, lines, products+customers). */
async function startBaseline(appUrl: string) {
  const pool = new pg.Pool({ connectionString: appUrl, max: 10 });
  const schema: GraphQLSchema = buildSchema(BASELINE_SDL);
  const key = createSecretKey(Buffer.from(SECRET)); // the same key handling as Tenantry's
  const rootValue = {
    products: async ({ first }: { first: number }, ctx: { db: pg.PoolClient }) => {
      const { rows } = await ctx.db.query('select id, sku, name, price_cents as "priceCents" from product order by sku limit $1', [first]);
      return { edges: rows.map((node) => ({ node })) };
    },
    orders: async ({ first }: { first: number }, ctx: { db: pg.PoolClient }) => {
      const { rows: orders } = await ctx.db.query(
        `select o.id, o.number, o.total_cents as "totalCents", o.status, c.name as customer_name
           from "order" o join customer c on c.tenant_id = o.tenant_id and c.id = o.customer_id order by o.number desc limit $1`,
        [first],
      );
      const { rows: lines } = await ctx.db.query(
        `select l.order_id, l.quantity, l.unit_price_cents as "unitPriceCents", p.name as product_name
           from order_line l join product p on p.tenant_id = l.tenant_id and p.id = l.product_id where l.order_id = any($1::uuid[])`,
        [orders.map((o) => o.id)],
      );
      return {
        edges: orders.map((o) => ({
          node: { ...o, customer: { name: o.customer_name }, lines: lines.filter((l) => l.order_id === o.id).map((l) => ({ ...l, product: { name: l.product_name } })) },
        })),
      };
    },
    order: async ({ id }: { id: string }, ctx: { db: pg.PoolClient }) => {
      const { rows } = await ctx.db.query('select number, total_cents as "totalCents", status from "order" where id = $1', [id]);
      return rows[0] ?? null;
    },
  };
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', async () => {
      const { query, variables } = JSON.parse(raw);
      const claims = jwt.verify((req.headers.authorization ?? '').slice(7), key, { algorithms: ['HS256'] }) as { tenantId: string };
      const db = await pool.connect();
      try {
        await db.query('begin');
        await db.query(`select set_config('app.tenant_id', $1, true)`, [claims.tenantId]);
        const result = await graphql({ schema, source: query, rootValue, contextValue: { db }, variableValues: variables });
        await db.query('commit');
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(result));
      } catch (err) {
        await db.query('rollback');
        res.statusCode = 500;
        res.end(String(err));
      } finally {
        db.release();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, close: async () => { server.close(); await pool.end(); } };
}
