import { loadConfig } from '../src/config.js';

describe('DNS_SERVERS', () => {
  test('unset: the system resolvers', () => {
    expect(loadConfig({}).dns).toEqual({ servers: undefined, timeoutMs: 5000 });
  });

  test('IPv4 and IPv6 addresses with optional ports, in node:dns setServers form', () => {
    const { servers } = loadConfig({ DNS_SERVERS: '192.0.2.1, 127.0.0.1:5353,2001:db8::1,[2001:db8::2]:53,[::1]' }).dns;
    expect(servers).toEqual(['192.0.2.1', '127.0.0.1:5353', '2001:db8::1', '[2001:db8::2]:53', '::1']);
  });

  test.each(['dns.example.com', '127.0.0.1:0', '127.0.0.1:70000', '300.1.1.1', '127.0.0.1,', '[2001:db8::1'])('refuses %s', (value) => {
    expect(() => loadConfig({ DNS_SERVERS: value })).toThrow(/DNS_SERVERS/);
  });

  test('DNS_TIMEOUT_MS is at least 100', () => {
    expect(loadConfig({ DNS_TIMEOUT_MS: '800' }).dns.timeoutMs).toBe(800);
    expect(() => loadConfig({ DNS_TIMEOUT_MS: '10' })).toThrow(/DNS_TIMEOUT_MS/);
  });
});

describe('BASE_DOMAIN', () => {
  test('a hostname, lower-cased; localhost by default', () => {
    expect(loadConfig({}).baseDomain).toBe('localhost');
    expect(loadConfig({ BASE_DOMAIN: 'Tenantry.IO' }).baseDomain).toBe('tenantry.io');
  });

  test.each(['', 'tenantry io', 'x.-bad', 'a..b', 'tenantry.test -c x=y'])('refuses %j', (value) => {
    expect(() => loadConfig({ BASE_DOMAIN: value })).toThrow(/BASE_DOMAIN/);
  });
});
