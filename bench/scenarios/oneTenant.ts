import http from 'node:http';
import pg from 'pg';

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

