import { loadConfig } from '../config.js';
import { openDatabase } from '../db/database.js';
import { makeLegacyFixture } from '../migrate/fixture.js';
import type { Command } from './commands.js';

const help = `Usage: npm run cli -- make-legacy-fixture --tenants <n> --rows <m> [--weird-names] [--target <url>] [--replace]

Builds a schema-per-tenant legacy database, for tests, demos and the benchmark: a registry
public.tenants (id, schema_name, name) and per tenant a schema with product, customer, order and
order_line tables (integer ids, integer foreign keys without constraints, "number" on orders).

  --tenants <n>     tenants (schemas) to create
  --rows <m>        rows per tenant over its four tables: 10% products, 15% customers, 25% orders,
                    the rest order lines (1,000 tenants x 1,000 rows = 1M rows)
  --weird-names     the first tenants get schema names with hyphens, upper case, Cyrillic, spaces,
                    quotes, dots, SQL keywords, reserved and colliding slugs (and the registry a
                    "public" row, as django-tenants has)
  --target <url>    where to build it (default: the Tenantry database, DATABASE_URL or the embedded one,
                    which is also migrate-schemas' default --source)
  --replace         drop an existing public.tenants and every schema it lists first`;

export const makeLegacyFixtureCommand: Command = {
  help,
  options: {
    tenants: { type: 'string' },
    rows: { type: 'string' },
    'weird-names': { type: 'boolean' },
    target: { type: 'string' },
    replace: { type: 'boolean' },
  },
  async run(v) {
    const tenants = Number(v.tenants);
    const rows = Number(v.rows);
    if (!Number.isInteger(tenants) || tenants < 1 || !Number.isInteger(rows) || rows < 1) {
      process.stderr.write(`--tenants and --rows take positive integers\n\n${help}\n`);
      return 2;
    }
    let url = v.target as string | undefined;
    let close = async () => {};
    if (!url) {
      const db = await openDatabase(loadConfig(), { poolSize: 1 });
      url = db.ownerUrl;
      close = () => db.close();
    }
    try {
      const result = await makeLegacyFixture(url, { tenants, rows, weirdNames: v['weird-names'] === true, replace: v.replace === true });
      process.stdout.write(`legacy fixture: ${result.tenants.length} tenants, ${result.rows.toLocaleString('en-US')} rows in ${result.seconds.toFixed(1)} s\n`);
      return 0;
    } finally {
      await close();
    }
  },
};
