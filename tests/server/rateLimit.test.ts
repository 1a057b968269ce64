import { DEFAULT_RATE_LIMIT_PER_MINUTE } from '../../src/server/rateLimit.js';
import { codeOf, gql, startTestServer, type TestServer } from '../support/server.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ rateLimitPerMinute: 5 });
});
afterAll(() => server.close());

test('past its limit a client gets RATE_LIMITED (429) with retryAfter and a Retry-After header', async () => {
  for (let i = 0; i < 5; i++) expect((await gql(server, '{ __typename }')).status).toBe(200);
  const r = await gql(server, '{ __typename }');
  expect(r.status).toBe(429);
  expect(codeOf(r)).toBe('RATE_LIMITED');
  const retryAfter = r.body.errors![0].extensions.retryAfter as number;
  expect(retryAfter).toBeGreaterThan(0);
  expect(retryAfter).toBeLessThanOrEqual(60);
  const raw = await fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ __typename }"}' });
  expect(raw.headers.get('retry-after')).toMatch(/^\d+$/);
});

test('the default limit is above the contract’s floor of 1,000 requests per minute', () => {
  expect(DEFAULT_RATE_LIMIT_PER_MINUTE).toBeGreaterThanOrEqual(1000);
});
