import { loadConfig } from '../src/config.js';

test('by default no proxy is trusted', () => {
  expect(loadConfig({}).trustProxy).toBe(0);
  expect(loadConfig({ NODE_ENV: 'production', TRUST_PROXY: '' }).trustProxy).toBe(0);
  expect(loadConfig({ TRUST_PROXY: 'false' }).trustProxy).toBe(0);
});

test('TRUST_PROXY is a hop count or a list of proxy addresses and CIDRs', () => {
  expect(loadConfig({ TRUST_PROXY: '2' }).trustProxy).toBe(2);
  expect(loadConfig({ TRUST_PROXY: '10.0.0.1, 192.168.0.0/16,loopback' }).trustProxy).toEqual(['10.0.0.1', '192.168.0.0/16', 'loopback']);
});

test('a TRUST_PROXY that names no address is refused at start', () => {
  expect(() => loadConfig({ TRUST_PROXY: 'proxy.internal' })).toThrow(/TRUST_PROXY/);
  expect(() => loadConfig({ TRUST_PROXY: '10.0.0.0/99' })).toThrow(/TRUST_PROXY/);
});

test('the default rate limit is above the contract’s floor of 1,000 requests per minute per client', () => {
  expect(loadConfig({}).rateLimitPerMinute).toBeGreaterThanOrEqual(1000);
});

test('rate limits are configuration, 0 turning them off', () => {
  const config = loadConfig({ RATE_LIMIT_PER_MINUTE: '0', TENANT_RATE_LIMIT_PER_MINUTE: '0' });
  expect([config.rateLimitPerMinute, config.tenantRateLimitPerMinute]).toEqual([0, 0]);
  expect(loadConfig({ TENANT_RATE_LIMIT_PER_MINUTE: '5000' }).tenantRateLimitPerMinute).toBe(5000);
  expect(() => loadConfig({ RATE_LIMIT_PER_MINUTE: 'lots' })).toThrow();
});

test('metrics stay on the API port without a token unless METRICS_PORT or METRICS_TOKEN is set', () => {
  expect(loadConfig({})).toMatchObject({ metricsPort: undefined, metricsToken: undefined });
  expect(loadConfig({ METRICS_PORT: '9464', METRICS_TOKEN: 't' })).toMatchObject({ metricsPort: 9464, metricsToken: 't' });
});
