// Configuration for the MikroORM CLI (owner connection: schema diffs and migrations).
// The server builds its own from the same function, see src/db/orm.ts.
import { ormConfig } from './src/db/orm.js';

export default ormConfig(process.env.DATABASE_URL ?? 'postgres://postgres:password@127.0.0.1:54329/tenantry');
