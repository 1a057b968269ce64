import { startTestServer, type TestServer } from '../support/server.js';

const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

/** What a browser gets when it opens /graphql. */
const open = (server: TestServer) => fetch(server.url, { headers: { accept: BROWSER_ACCEPT } });
const origin = (server: TestServer) => server.url.replace(/\/graphql$/, '');

describe('in development', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { NODE_ENV: 'development' } });
  });
  afterAll(() => server.close());

  test('a browser opening /graphql gets GraphiQL, every asset served from this server', async () => {
    const page = await open(server);
    expect([page.status, page.headers.get('content-type')]).toEqual([200, 'text/html; charset=utf-8']);
    const html = await page.text();
    const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
    expect(assets).toEqual(['/ide/favicon.ico', '/ide/graphiql.css', '/ide/graphql-ws.js', '/ide/graphiql.js', '/ide/start.js']);
    for (const asset of assets) expect({ asset, status: (await fetch(`${origin(server)}${asset}`)).status }).toEqual({ asset, status: 200 });
  });

  test('the page subscribes over graphql-ws on /graphql and queries over HTTP, with the Headers tab as connection params', async () => {
    const script = await (await fetch(`${origin(server)}/ide/start.js`)).text();
    expect(script).toContain("graphqlWs.createClient({ url: wsUrl, connectionParams: params })");
    expect(script).toContain('YogaGraphiQL.renderYogaGraphiQL');
    const client = await (await fetch(`${origin(server)}/ide/graphql-ws.js`)).text();
    expect(client).toContain('graphql-transport-ws');
    for (const label of ['editorWorkerService', 'json', 'graphql']) expect((await fetch(`${origin(server)}/ide/workers/${label}.js`)).status).toBe(200);
  });

  test('GraphQL clients’ GETs still reach the API', async () => {
    const res = await fetch(`${server.url}?query=${encodeURIComponent('{ __typename }')}`, { headers: { accept: 'application/graphql-response+json, application/json' } });
    expect(await res.json()).toEqual({ data: { __typename: 'Query' } });
    const curl = await fetch(`${server.url}?query=${encodeURIComponent('{ __typename }')}`, { headers: { accept: '*/*' } });
    expect(await curl.json()).toEqual({ data: { __typename: 'Query' } });
  });
});

describe('in production', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { NODE_ENV: 'production' } });
  });
  afterAll(() => server.close());

  test('a browser opening /graphql gets the API’s JSON answer, no IDE', async () => {
    const page = await open(server);
    expect(page.status).toBe(400);
    expect(page.headers.get('content-type')).toMatch(/^application\/json/);
    expect(((await page.json()) as any).errors[0].extensions.code).toBe('BAD_REQUEST');
  });

  test('no IDE asset is served', async () => {
    for (const asset of ['/ide/graphiql.js', '/ide/start.js', '/ide/graphql-ws.js']) expect((await fetch(`${origin(server)}${asset}`)).status).toBe(404);
  });
});
