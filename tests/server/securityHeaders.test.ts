/**
 * securityHeaders (src/server/securityHeaders.ts) sets helmet's headers, asked of helmet once: a
 * response gets exactly the headers helmet itself gives it, per request, with the same values.
 */
import express, { type RequestHandler } from 'express';
import helmet from 'helmet';
import type { AddressInfo } from 'node:net';
import { securityHeaders } from '../../src/server/securityHeaders.js';

/** The headers of a GET / answered behind `middleware`, without those every response has (date, connection…). */
async function headersBehind(middleware: RequestHandler): Promise<Record<string, string>> {
  const app = express();
  app.use(middleware);
  app.get('/', (_req, res) => void res.send('ok'));
  const server = app.listen(0);
  await new Promise((resolve) => server.once('listening', resolve));
  try {
    const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    const generic = new Set(['date', 'connection', 'keep-alive', 'content-length', 'content-type', 'etag']);
    return Object.fromEntries([...res.headers].filter(([name]) => !generic.has(name)));
  } finally {
    server.close();
  }
}

test('a response carries exactly the headers helmet sets, with its values', async () => {
  const expected = await headersBehind(helmet());
  expect(expected['content-security-policy']).toMatch(/default-src 'self'/);
  expect(expected['x-powered-by']).toBeUndefined(); // removed by helmet
  expect(await headersBehind(securityHeaders())).toEqual(expected);
});
