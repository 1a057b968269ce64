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

describe('proxies, rate limits and metrics', () => {
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

test('a worker runs 4 preparation jobs at once unless WORKER_CONCURRENCY says otherwise (at least 1)', () => {
  expect(loadConfig({}).workerConcurrency).toBe(4);
  expect(loadConfig({ WORKER_CONCURRENCY: '16' }).workerConcurrency).toBe(16);
  expect(() => loadConfig({ WORKER_CONCURRENCY: '0' })).toThrow(/WORKER_CONCURRENCY/);
  expect(() => loadConfig({ WORKER_CONCURRENCY: 'many' })).toThrow();
});

test('metrics stay on the API port without a token unless METRICS_PORT or METRICS_TOKEN is set', () => {
  expect(loadConfig({})).toMatchObject({ metricsPort: undefined, metricsToken: undefined });
  expect(loadConfig({ METRICS_PORT: '9464', METRICS_TOKEN: 't' })).toMatchObject({ metricsPort: 9464, metricsToken: 't' });
});
});

describe('tracing (OpenTelemetry’s standard variables)', () => {
  test('off unless a variable asks for an exporter', () => {
    expect(loadConfig({}).tracing).toBe(false);
    expect(loadConfig({ OTEL_SERVICE_NAME: 'tenantry-eu', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }).tracing).toBe(false);
  });

  test.each([
    [{ OTEL_TRACES_EXPORTER: 'otlp' }, true],
    [{ OTEL_TRACES_EXPORTER: 'console' }, true],
    [{ OTEL_TRACES_EXPORTER: 'otlp,zipkin' }, true],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }, true],
    [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' }, true],
    [{ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }, false],
    [{ OTEL_SDK_DISABLED: 'true', OTEL_TRACES_EXPORTER: 'otlp' }, false],
    [{ OTEL_SDK_DISABLED: 'false', OTEL_TRACES_EXPORTER: 'otlp' }, true],
  ])('%j: %s', (env, on) => {
    expect(loadConfig(env).tracing).toBe(on);
  });

  test('an exporter the SDK does not know, or none combined with one, is refused at start', () => {
    expect(() => loadConfig({ OTEL_TRACES_EXPORTER: 'jaegr' })).toThrow(/OTEL_TRACES_EXPORTER/);
    expect(() => loadConfig({ OTEL_TRACES_EXPORTER: 'none,otlp' })).toThrow(/OTEL_TRACES_EXPORTER/);
  });
});

describe('token lifetimes', () => {
  test('15 minutes and 30 days by default', () => {
    expect(loadConfig({}).tokenLifetimes).toEqual({ accessSeconds: 15 * 60, refreshSeconds: 30 * 24 * 3600 });
  });

  test('ACCESS_TOKEN_TTL and REFRESH_TOKEN_TTL are a whole number with a unit s, m, h or d', () => {
    expect(loadConfig({ ACCESS_TOKEN_TTL: '30s', REFRESH_TOKEN_TTL: '12h' }).tokenLifetimes).toEqual({ accessSeconds: 30, refreshSeconds: 12 * 3600 });
    expect(loadConfig({ ACCESS_TOKEN_TTL: '24h', REFRESH_TOKEN_TTL: '90d' }).tokenLifetimes).toEqual({ accessSeconds: 86_400, refreshSeconds: 90 * 86_400 });
    expect(loadConfig({ ACCESS_TOKEN_TTL: '5m' }).tokenLifetimes.accessSeconds).toBe(300);
  });

  test.each(['900', '15 minutes', '1.5h', '-10s', '15M', 'm'])('refuses ACCESS_TOKEN_TTL=%j', (value) => {
    expect(() => loadConfig({ ACCESS_TOKEN_TTL: value })).toThrow(/ACCESS_TOKEN_TTL/);
  });

  test.each([
    ['ACCESS_TOKEN_TTL', '9s'],
    ['ACCESS_TOKEN_TTL', '25h'],
    ['REFRESH_TOKEN_TTL', '59s'],
    ['REFRESH_TOKEN_TTL', '91d'],
  ])('refuses %s=%s, out of bounds', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(name));
  });

  test('a refresh token may not live shorter than an access token', () => {
    expect(() => loadConfig({ ACCESS_TOKEN_TTL: '2h', REFRESH_TOKEN_TTL: '1h' })).toThrow(/REFRESH_TOKEN_TTL \(1h\) must not be shorter than ACCESS_TOKEN_TTL \(2h\)/);
  });
});
