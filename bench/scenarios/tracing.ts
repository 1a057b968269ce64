import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { signAccessToken } from '../../src/auth/accessToken.js';
import { loadConfig } from '../../src/config.js';
import { migrate } from '../../src/db/database.js';
import { Role } from '../../src/entities/User.js';
import { median, ms, percentile, type BenchRow, type Scenario } from '../harness.js';
import { buildProduction, startServerProcess } from '../production.js';
import { seedTenant, sender } from './oneTenant.js';

const SECRET = 'bench-secret-bench-secret-bench-secret';
/** Requests per server and operation. */
const SAMPLES = Number(process.env.BENCH_TRACING_SAMPLES ?? 1000);

const OPERATIONS = [
  { name: 'one order by id', query: 'query OrderById($id: ID!) { order(id: $id) { number totalCents status } }' },
  { name: '20 orders + customer + lines + product', query: 'query Orders { orders(first: 20) { edges { node { number totalCents customer { name } lines { quantity unitPriceCents product { name } } } } } }' },
] as const;

/**
 * What tracing costs when it is on: the production build (`node dist/server/main.js`) twice on one
 * database, one with OTEL_EXPORTER_OTLP_ENDPOINT (every operation sampled, its span and its statements'
 * spans exported over OTLP/HTTP to a sink on the loopback that discards them), one without. One client,
 * the two servers alternating request by request, so load from elsewhere on the machine hits both alike.
 */
export const tracingScenario: Scenario = {
  name: 'tracing',
  async run(bench) {
    const ownerUrl = await bench.createDatabase('bench_tracing');
    await migrate(ownerUrl);
    buildProduction();
    const seed = await seedTenant(ownerUrl);
    const token = signAccessToken({ secret: SECRET, lifetimes: loadConfig({}).tokenLifetimes }, { id: seed.userId, role: Role.ADMIN, tenantId: seed.tenantId }).token;
    const sink = await startSink();
    const env = { NODE_ENV: 'production', DATABASE_URL: ownerUrl, JWT_SECRET: SECRET, BASE_DOMAIN: 'bench.test', LOG_LEVEL: 'warn', RUN_WORKER: 'false', RATE_LIMIT_PER_MINUTE: '0', TENANT_RATE_LIMIT_PER_MINUTE: '0' };
    const off = await startServerProcess(env);
    const on = await startServerProcess({ ...env, OTEL_EXPORTER_OTLP_ENDPOINT: sink.url });
    const rows: BenchRow[] = [];
    try {
      for (const op of OPERATIONS) {
        const body = JSON.stringify({ query: op.query, variables: { id: seed.orderId } });
        const agents = [new http.Agent({ keepAlive: true, maxSockets: 1 }), new http.Agent({ keepAlive: true, maxSockets: 1 })];
        const sends = [sender(on.port, body, token, agents[0]), sender(off.port, body, token, agents[1])] as const;
        const latencies: [number[], number[]] = [[], []];
        for (let i = 0; i < 100; i++) await Promise.all(sends.map((send) => send())); // warm-up
        for (let i = 0; i < SAMPLES; i++) {
          for (const side of [0, 1] as const) {
            const t = performance.now();
            await sends[side]();
            latencies[side].push(performance.now() - t);
          }
        }
        agents.forEach((a) => a.destroy());
        const [traced, untraced] = latencies;
        rows.push({
          scenario: `tracing: ${op.name}, on vs off`,
          measured: `p50 ${ms(median(traced))}, p99 ${ms(percentile(traced, 99))}`,
          baseline: `p50 ${ms(median(untraced))}, p99 ${ms(percentile(untraced, 99))}`,
          ratio: median(traced) / median(untraced),
          note: `latency, one client, ${SAMPLES} interleaved requests each; every operation sampled`,
        });
      }
    } finally {
      await Promise.all([on.stop(), off.stop()]);
      await sink.close();
    }
    if (sink.exports() === 0) throw new Error('the traced server exported no spans: the comparison would be meaningless');
    return rows;
  },
};

/** An OTLP/HTTP endpoint that accepts and discards every export. */
async function startSink() {
  let exports = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      exports++;
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, exports: () => exports, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
