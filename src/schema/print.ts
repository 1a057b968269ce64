import 'reflect-metadata';
import { writeFile } from 'node:fs/promises';
import { buildTenantrySchema, printTenantrySchema } from './build.js';

/** `npm run schema`: writes schema.graphql (the SDL, with directive usages), which is committed. */
const schema = await buildTenantrySchema();
await writeFile(new URL('../../schema.graphql', import.meta.url), printTenantrySchema(schema));
process.stdout.write('wrote schema.graphql\n');
process.exit(0);
