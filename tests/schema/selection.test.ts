/**
 * selectedFields (src/schema/selection.ts): what a query selects on a resolver's result, fragments
 * followed; and the lists that use it read only those columns (and the cursor's), answering the same.
 */
import { buildSchema, graphql, type GraphQLResolveInfo } from 'graphql';
import { selectedFields } from '../../src/schema/selection.js';
import { createProduct, readyTenant, type SignedUp } from '../support/fixtures.js';
import { gql, startTestServer, type TestServer } from '../support/server.js';

const SDL = `
  type Product { id: ID! sku: String! name: String! priceCents: Int! createdAt: String! }
  type Edge { cursor: String! node: Product! }
  type Page { edges: [Edge!]! totalCount: Int! }
  type Query { products: Page! }`;

/** The fields `selectedFields(info, path)` gives the products resolver for `document`. */
async function selectionOf(document: string, path: readonly string[]): Promise<string[]> {
  let seen: Set<string> | undefined;
  const rootValue = {
    products: (_args: unknown, _ctx: unknown, info: GraphQLResolveInfo) => {
      seen = selectedFields(info, path);
      return { edges: [], totalCount: 0 };
    },
  };
  const result = await graphql({ schema: buildSchema(SDL), source: document, rootValue });
  expect(result.errors).toBeUndefined();
  return [...seen!].sort();
}

test("a connection's node fields, through aliases, inline fragments and named fragments", async () => {
  const document = `
    query($skip: Boolean = true) {
      products { totalCount edges { cursor node { id label: name ... on Product { sku } ...Price } } }
    }
    fragment Price on Product { priceCents createdAt @skip(if: $skip) }`;
  expect(await selectionOf(document, ['edges', 'node'])).toEqual(['createdAt', 'id', 'name', 'priceCents', 'sku']);
});

test('fields of the result itself without a path, and of every branch that selects the path', async () => {
  expect(await selectionOf('{ products { totalCount } }', [])).toEqual(['totalCount']);
  expect(await selectionOf('{ products { edges { node { id } } ...E } } fragment E on Page { edges { node { sku } } }', ['edges', 'node'])).toEqual(['id', 'sku']);
});

describe('through the API', () => {
  const statements: string[] = [];
  let server: TestServer;
  let tenant: SignedUp;
  beforeAll(async () => {
    server = await startTestServer({ orm: { debug: ['query'], logger: (message: string) => statements.push(message) } });
    tenant = await readyTenant(server, 'selection');
    await createProduct(server, { token: tenant.token }, 'SEL-1', 120);
  });
  afterAll(() => server.close());

  test('a page of products reads only the columns its query selects, and answers it', async () => {
    statements.length = 0;
    const r = await gql(server, '{ products(first: 5) { edges { node { name } } pageInfo { endCursor } } }', {}, { token: tenant.token });
    expect(r.body.errors).toBeUndefined();
    expect(r.body.data.products.edges).toEqual([{ node: { name: expect.any(String) } }]);
    expect(r.body.data.products.pageInfo.endCursor).toEqual(expect.any(String));
    // The selected field, the cursor's key and the id; not the tenant, price or timestamps. The filter still applies.
    const read = statements.find((s) => /from "product"/.test(s))!;
    expect(read).toMatch(/select "p0"\."id", "p0"\."sku", "p0"\."name" from "product" as "p0" where \(true\) and "p0"\."tenant_id" = /);
  });

  test('the full row when the query selects every field', async () => {
    const r = await gql(server, '{ products(first: 5) { edges { node { id sku name priceCents createdAt updatedAt } } } }', {}, { token: tenant.token });
    expect(r.body.errors).toBeUndefined();
    const [{ node }] = r.body.data.products.edges;
    expect(node).toEqual({ id: expect.any(String), sku: 'SEL-1', name: expect.any(String), priceCents: 120, createdAt: expect.any(String), updatedAt: expect.any(String) });
  });
});
