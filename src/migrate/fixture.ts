import { withClient } from '../db/database.js';
import { qi, ql, qualified } from './sql.js';

/** Schema names a real legacy database had or could have: each one breaks unquoted SQL somewhere. */
export const WEIRD_TENANTS: readonly { schema: string; name: string }[] = [
  { schema: 'tenant_novyj-testovyj-magazin-2', name: 'Новый Тестовый Магазин 2' },
  { schema: 'tenant_Тестовый-Магазин', name: 'Тестовый Магазин' },
  { schema: 'Tenant_UPPER', name: 'UPPER Corp' },
  { schema: 'tenant with spaces', name: 'Spaces & Co' },
  { schema: 'tenant"quote', name: 'Quote "Q" Ltd' },
  { schema: 'tenant.dot', name: 'Dot.com' },
  { schema: 'select', name: 'Keyword Inc' },
  { schema: 'www', name: 'Reserved Word' },
  { schema: 'tenant_shop', name: 'Shop' },
  { schema: 'tenant_Shop', name: 'Shop (upper)' },
  { schema: '1st-tenant', name: 'First' },
  { schema: 'x', name: 'X' },
  { schema: 'tenant_ümlaut-café', name: 'Ümlaut Café' },
  { schema: truncateBytes(`tenant_${'очень-длинное-название-магазина-'.repeat(3)}`, 63), name: 'Очень длинное название' },
];

export interface FixtureOptions {
  readonly tenants: number;
  /** Rows per tenant across its four tables (10% products, 15% customers, 25% orders, the rest lines). */
  readonly rows: number;
  readonly weirdNames: boolean;
  /** Drop an existing registry and the schemas it lists first. */
  readonly replace: boolean;
}

export interface FixtureTenant {
  readonly id: number;
  readonly schema: string;
  readonly name: string;
}

export interface FixtureResult {
  readonly tenants: readonly FixtureTenant[];
  readonly rows: number;
  readonly seconds: number;
}

const REGISTRY = 'public.tenants';
const CHUNK = 25;

/**
 * Builds a django-tenants style legacy database at `url`: `public.tenants (id, schema_name, name)`
 * and per tenant a schema with `product`, `customer`, `order`, `order_line` (integer ids and foreign
 * keys without constraints, `number` on orders, ids with gaps). Set-based: generate_series inserts,
 * `CHUNK` tenants per round trip. Deterministic for given options. With `weirdNames` the first tenants
 * get the names of WEIRD_TENANTS (and the registry a `public` row, as django-tenants has).
 */
export async function makeLegacyFixture(url: string, options: FixtureOptions): Promise<FixtureResult> {
  const started = Date.now();
  const tenants: FixtureTenant[] = Array.from({ length: options.tenants }, (_, i) => {
    const weird = options.weirdNames ? WEIRD_TENANTS[i] : undefined;
    return { id: i + 1, schema: weird?.schema ?? `tenant_shop_${i + 1}`, name: weird?.name ?? `Shop ${i + 1}` };
  });
  const split = splitRows(options.rows);
  await withClient(url, async (c) => {
    // A fixture is rebuilt, not recovered: no need to wait for each chunk's WAL flush.
    await c.query('set synchronous_commit = off');
    const { rows } = await c.query<{ present: boolean }>(`select to_regclass('public.tenants') is not null as present`);
    if (rows[0].present) {
      if (!options.replace) throw new Error(`${REGISTRY} already exists at the target: pass --replace to drop it and the schemas it lists`);
      const { rows: old } = await c.query<{ schema_name: string }>(`select schema_name from public.tenants where schema_name <> 'public'`);
      for (let i = 0; i < old.length; i += CHUNK) {
        await c.query(old.slice(i, i + CHUNK).map((o) => `drop schema if exists ${qi(o.schema_name)} cascade;`).join('\n'));
      }
      await c.query('drop table public.tenants');
    }
    await c.query(`create table public.tenants (id integer primary key, schema_name varchar(63) not null unique, name varchar(200) not null, created_on date not null default current_date)`);
    if (options.weirdNames) await c.query(`insert into public.tenants (id, schema_name, name) values (0, 'public', 'Public (shared)')`);
    for (let i = 0; i < tenants.length; i += CHUNK) {
      const chunk = tenants.slice(i, i + CHUNK);
      await c.query(chunk.map((t, j) => tenantSql(t, split, options.weirdNames && i + j < WEIRD_TENANTS.length)).join('\n'));
    }
  });
  return { tenants, rows: tenants.length * (split.products + split.customers + split.orders + split.lines), seconds: (Date.now() - started) / 1000 };
}

export function splitRows(rows: number): { products: number; customers: number; orders: number; lines: number } {
  const products = Math.max(1, Math.floor(rows * 0.1));
  const customers = Math.max(1, Math.floor(rows * 0.15));
  const orders = Math.max(1, Math.floor(rows * 0.25));
  return { products, customers, orders, lines: Math.max(0, rows - products - customers - orders) };
}

function tenantSql(t: FixtureTenant, n: ReturnType<typeof splitRows>, weird: boolean): string {
  const s = (table: string) => qualified(t.schema, table);
  const k = 1 + (t.id % 3); // id stride: ids with gaps, and different per tenant
  const ts = `(timestamptz '2024-01-01 00:00:00+00' + g * interval '37 seconds' + (g % 997) * interval '1 microsecond')`;
  const productName = weird
    ? `case when g % 50 = 5 then ${ql('Товар "кавычки" \\ tab\t nl\n 𝄞 ')} || g else 'Товар ' || g end`
    : `case when g % 50 = 5 then ${ql(`Quote ' " \\ tab\t nl\n ü 𝄞 `)} || g else 'Product ' || g end`;
  // One weird tenant keeps its product columns in another order: columns are matched by name.
  const productColumns =
    t.schema === 'Tenant_UPPER'
      ? `name varchar(200) not null, price_cents integer not null, updated_at timestamptz not null, id integer primary key, created_at timestamptz not null, sku varchar(64)`
      : `id integer primary key, sku varchar(64), name varchar(200) not null, price_cents integer not null, created_at timestamptz not null, updated_at timestamptz not null`;
  return `
    insert into public.tenants (id, schema_name, name) values (${t.id}, ${ql(t.schema)}, ${ql(t.name)});
    create schema ${qi(t.schema)};
    create table ${s('product')} (${productColumns});
    create table ${s('customer')} (id integer primary key, name varchar(200) not null, email varchar(320), created_at timestamptz not null);
    create table ${s('order')} (id integer primary key, "number" integer not null, status varchar(16) not null, customer_id integer, total_cents integer not null, created_at timestamptz not null);
    create table ${s('order_line')} (id integer primary key, order_id integer, product_id integer, quantity integer not null, unit_price_cents integer not null);
    insert into ${s('product')} (id, sku, name, price_cents, created_at, updated_at)
      select g * ${k}, 'SKU-' || lpad(g::text, 6, '0'), ${productName}, (g * 137) % 100000, ${ts}, ${ts} + interval '1 day'
        from generate_series(1, ${n.products}) g;
    insert into ${s('customer')} (id, name, email, created_at)
      select g * ${k}, ${weird ? `'Клиент ' || g` : `'Customer ' || g`}, case when g % 7 = 0 then null else 'customer' || g || '@example.test' end, ${ts}
        from generate_series(1, ${n.customers}) g;
    insert into ${s('order')} (id, "number", status, customer_id, total_cents, created_at)
      select g * ${k}, g, (array['OPEN', 'PAID', 'CANCELLED'])[1 + g % 3], (1 + (g * 7) % ${n.customers}) * ${k}, (g * 991) % 100000, ${ts}
        from generate_series(1, ${n.orders}) g;
    insert into ${s('order_line')} (id, order_id, product_id, quantity, unit_price_cents)
      select g * ${k}, (1 + (g - 1) % ${n.orders}) * ${k}, (1 + (g * 13) % ${n.products}) * ${k}, 1 + g % 9, (g * 137) % 100000
        from generate_series(1, ${n.lines}) g;`;
}

function truncateBytes(s: string, max: number): string {
  let out = '';
  for (const ch of s) {
    if (Buffer.byteLength(out + ch) > max) break;
    out += ch;
  }
  return out.replace(/-+$/, '');
}
