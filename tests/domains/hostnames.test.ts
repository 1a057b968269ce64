import { classifyHost, customHostname, hostFromHeader } from '../../src/domains/hostnames.js';
import { AppError } from '../../src/errors.js';

const BASE = 'tenantry.test';

describe('classifyHost', () => {
  test.each([
    ['acme.tenantry.test', { kind: 'base', slug: 'acme' }],
    ['victim-x.tenantry.test', { kind: 'base', slug: 'victim-x' }],
    ['tenantry.test', { kind: 'base', slug: null }],
    ['api.tenantry.test', { kind: 'base', slug: null }],
    ['www.tenantry.test', { kind: 'base', slug: null }],
    ['admin.tenantry.test', { kind: 'base', slug: null }],
    ['shop.acme.tenantry.test', { kind: 'base', slug: null }],
    ['127.0.0.1', { kind: 'local' }],
    ['[::1]', { kind: 'local' }],
    ['localhost', { kind: 'local' }],
    ['db.localhost', { kind: 'local' }],
    ['printer.local', { kind: 'local' }],
    ['vault.internal', { kind: 'local' }],
    ['1.0.0.127.in-addr.arpa', { kind: 'local' }],
    ['shop.acme.example', { kind: 'custom' }],
    ['eviltenantry.test', { kind: 'custom' }],
  ])('%s is %o', (host, kind) => {
    expect(classifyHost(host, BASE)).toEqual(kind);
  });

  test('with BASE_DOMAIN localhost (the development default), <slug>.localhost is the slug rule', () => {
    expect(classifyHost('acme.localhost', 'localhost')).toEqual({ kind: 'base', slug: 'acme' });
    expect(classifyHost('localhost', 'localhost')).toEqual({ kind: 'base', slug: null });
  });
});

test('hostFromHeader drops the port and a trailing dot, lower-cases, keeps IPv6 brackets', () => {
  expect(hostFromHeader(' Shop.Acme.Example.:8443 ')).toBe('shop.acme.example');
  expect(hostFromHeader('[::1]:4000')).toBe('[::1]');
  expect(hostFromHeader('')).toBeUndefined();
});

describe('customHostname (addDomain)', () => {
  const refusal = (value: string) => {
    try {
      customHostname(value, BASE);
      return null;
    } catch (err) {
      return { code: (err as AppError).extensions.code, field: (err as AppError).extensions.field };
    }
  };

  test.each(['tenantry.test', 'victim-x.tenantry.test', 'api.tenantry.test', 'www.tenantry.test', 'admin.tenantry.test', 'a.b.tenantry.test', 'TENANTRY.test'])(
    'refuses %s: BASE_DOMAIN and every name under it',
    (value) => {
      expect(refusal(value)).toEqual({ code: 'BAD_USER_INPUT', field: 'hostname' });
    },
  );

  test.each(['127.0.0.1', '[::1]', '::1', 'localhost', 'app.localhost', 'nas.local', 'vault.internal', 'x.invalid', 'hidden.onion', 'not a host', ''])(
    'refuses %s: IP literals, localhost, special-use and malformed names',
    (value) => {
      expect(refusal(value)).toEqual({ code: 'BAD_USER_INPUT', field: 'hostname' });
    },
  );

  test('accepts a public name, lower-cased', () => {
    expect(customHostname(' Shop.Acme-Corp.COM ', BASE)).toBe('shop.acme-corp.com');
  });
});
