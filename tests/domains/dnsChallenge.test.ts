import dgram from 'node:dgram';
import { DnsChallenge } from '../../src/domains/dnsChallenge.js';
import { startDnsServer, type TestDnsServer } from '../support/dns.js';

let dns: TestDnsServer;
let challenge: DnsChallenge;

beforeAll(async () => {
  dns = await startDnsServer();
  challenge = new DnsChallenge({ servers: [dns.address], timeoutMs: 2000 });
});
afterAll(() => dns.close());

test('a TXT record holding the token at _tenantry-challenge.<hostname> is a proof, among other records', async () => {
  dns.publish('_tenantry-challenge.shop.proof.example', 'v=spf1 -all');
  dns.publish('_tenantry-challenge.shop.proof.example', 'the-token');
  expect(await challenge.check('shop.proof.example', 'the-token')).toBeNull();
  expect(dns.queries).toContain('_tenantry-challenge.shop.proof.example');
});

test('no record at that name is RECORD_NOT_FOUND', async () => {
  expect(await challenge.check('nothing.proof.example', 'the-token')).toBe('RECORD_NOT_FOUND');
});

test('records that do not hold the token are RECORD_MISMATCH, a record at the hostname itself does not count', async () => {
  dns.publish('_tenantry-challenge.other.proof.example', 'another-token');
  dns.publish('other.proof.example', 'the-token');
  expect(await challenge.check('other.proof.example', 'the-token')).toBe('RECORD_MISMATCH');
});

test('a resolver that refuses is DNS_UNAVAILABLE', async () => {
  const closed = new DnsChallenge({ servers: ['127.0.0.1:9'], timeoutMs: 2000 });
  expect(await closed.check('shop.proof.example', 'the-token')).toBe('DNS_UNAVAILABLE');
});

test('a resolver that never answers is DNS_UNAVAILABLE once DNS_TIMEOUT_MS has passed', async () => {
  const silent = dgram.createSocket('udp4'); // receives queries, answers none
  await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
  try {
    const challengeOf = (timeoutMs: number) => new DnsChallenge({ servers: [`127.0.0.1:${silent.address().port}`], timeoutMs });
    const started = Date.now();
    expect(await challengeOf(400).check('shop.proof.example', 'the-token')).toBe('DNS_UNAVAILABLE');
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(350);
    expect(elapsed).toBeLessThan(1500);
  } finally {
    silent.close();
  }
});
