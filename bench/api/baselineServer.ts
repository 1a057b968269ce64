/**
 * The `api` scenario's baseline: a hand-written server answering the bench's three operations with
 * graphql-js and explicit SQL on `pg`, doing the same per-request security work as Tenantry (verify the
 * HS256 JWT, `begin`, `set_config('app.tenant_id', …, true)`, the reads under RLS as the app role,
 * `commit`). Run in a process of its own (`node bench/api/baselineServer.ts`, Node's type stripping:
 * erasable TypeScript only, no module of the project) so its CPU is measured apart from the load
 * generator's. Env: PORT, APP_DATABASE_URL, JWT_SECRET, DB_POOL_SIZE (10, like Tenantry's default).
 */
import { buildSchema, graphql, type GraphQLSchema } from 'graphql';
import { createSecretKey } from 'node:crypto';
import http from 'node:http';
import jwt from 'jsonwebtoken';
import pg from 'pg';

const SDL = `
  type Product { id: ID! sku: String! name: String! priceCents: Int! }
  type Customer { name: String! }
  type OrderLine { quantity: Int! unitPriceCents: Int! product: Product! }
  type Order { number: Int! totalCents: Int! status: String! customer: Customer! lines: [OrderLine!]! }
  type ProductEdge { node: Product! }  type ProductConnection { edges: [ProductEdge!]! }
  type OrderEdge { node: Order! }  type OrderConnection { edges: [OrderEdge!]! }
  type Query { products(first: Int): ProductConnection! orders(first: Int): OrderConnection! order(id: ID!): Order }`;

interface Ctx {
  readonly db: pg.PoolClient;
}

const pool = new pg.Pool({ connectionString: process.env.APP_DATABASE_URL, max: Number(process.env.DB_POOL_SIZE ?? 10) });
const schema: GraphQLSchema = buildSchema(SDL);
const key = createSecretKey(Buffer.from(process.env.JWT_SECRET ?? '')); // the same key handling as Tenantry's

/** Explicit SQL: one query for the products, two for the orders page (orders with customers, lines with products) and for one order (the order, its lines). */
const rootValue = {
  products: async ({ first }: { first: number }, ctx: Ctx) => {
    const { rows } = await ctx.db.query('select id, sku, name, price_cents as "priceCents" from product order by sku limit $1', [first]);
    return { edges: rows.map((node) => ({ node })) };
  },
  orders: async ({ first }: { first: number }, ctx: Ctx) => {
    const { rows: orders } = await ctx.db.query(
      `select o.id, o.number, o.total_cents as "totalCents", o.status, c.name as customer_name
         from "order" o join customer c on c.tenant_id = o.tenant_id and c.id = o.customer_id order by o.number desc limit $1`,
      [first],
    );
    const { rows: lines } = await ctx.db.query(
      `select l.order_id, l.quantity, l.unit_price_cents as "unitPriceCents", p.name as product_name
         from order_line l join product p on p.tenant_id = l.tenant_id and p.id = l.product_id where l.order_id = any($1::uuid[]) order by l.id`,
      [orders.map((o) => o.id)],
    );
    return {
      edges: orders.map((o) => ({
        node: { ...o, customer: { name: o.customer_name }, lines: lines.filter((l) => l.order_id === o.id).map((l) => ({ ...l, product: { name: l.product_name } })) },
      })),
    };
  },
  order: async ({ id }: { id: string }, ctx: Ctx) => {
    const { rows } = await ctx.db.query('select number, total_cents as "totalCents", status from "order" where id = $1', [id]);
    if (!rows[0]) return null;
    const { rows: lines } = await ctx.db.query('select quantity, unit_price_cents as "unitPriceCents" from order_line where order_id = $1 order by id', [id]);
    return { ...rows[0], lines };
  },
};

const server = http.createServer((req, res) => {
  if (req.url === '/readyz') return void res.end('ok');
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

server.listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  void pool.end().then(() => process.exit(0));
});
