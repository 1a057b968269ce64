/**
 * Custom domains that cannot be hijacked (issue 9, part 1): `<slug>.<BASE_DOMAIN>` is decided by the
 * slug alone, a custom domain routes only once its DNS TXT record proves it (checked against a real
 * DNS server on the loopback), and no answer tells one tenant which hostnames another holds.
 */
import { randomUUID } from 'node:crypto';
import { PASSWORD, readyTenant, signUp, type SignedUp, SUPERADMIN_EMAIL, superadminToken, waitReady } from '../support/fixtures.js';
import { ADD_DOMAIN, startDnsServer, type TestDnsServer, VERIFY_DOMAIN, verifiedDomain } from '../support/dns.js';
import { BASE_DOMAIN, codeOf, gql, type GqlOptions, type GqlResponse, startTestServer, type TestServer } from '../support/server.js';

let dns: TestDnsServer;
let server: TestServer;
let a: SignedUp;
let b: SignedUp;
let root: string;

beforeAll(async () => {
  dns = await startDnsServer();
  server = await startTestServer({ env: { DNS_SERVERS: dns.address } });
  [a, b] = await Promise.all([readyTenant(server, 'alpha'), readyTenant(server, 'bravo')]);
  root = await superadminToken(server);
});
afterAll(async () => {
  await server.close();
  await dns.close();
});

const LOGIN = 'mutation($input: LoginInput!) { login(input: $input) { user { email } tenant { slug } } }';
const login = (email: string, host: string) => gql(server, LOGIN, { input: { email, password: PASSWORD } }, { host });
const adminEmail = (slug: string) => `admin@${slug}.example.com`;
const DOMAINS = '{ currentTenant { domains { hostname isPrimary isActive verified verificationRecord { name } } } }';

const addDomain = (as: SignedUp, hostname: string, isPrimary?: boolean) => gql(server, ADD_DOMAIN, { hostname, isPrimary }, { token: as.token });
/** addDomain as the reproductions send it (only fields every version has). */
const addDomainAsReported = (as: SignedUp, hostname: string) => gql(server, 'mutation($hostname: String!) { addDomain(hostname: $hostname) { id } }', { hostname }, { token: as.token });
const verifyDomain = (as: SignedUp, id: string) => gql(server, VERIFY_DOMAIN, { id }, { token: as.token });

function expectFailure(r: GqlResponse, code: string, status: number) {
  expect({ status: r.status, code: codeOf(r), data: r.body.data ?? null }).toEqual({ status, code, data: null });
}

/** Every domain row with that hostname, as it really is (RLS aside). */
async function rowsOf(hostname: string) {
  const { rows } = await server.db.owner.query(
    `select tenant_id as "tenantId", verified_at is not null as verified, is_active as "isActive", is_primary as "isPrimary"
       from domain where hostname = $1 order by tenant_id`,
    [hostname],
  );
  return rows;
}

/** A row as a database from before this change holds it after the migration, written past the API. */
async function insertRow(tenantId: string, hostname: string, state: 'verified' | 'claim') {
  await server.db.owner.query(
    state === 'verified'
      ? `insert into domain (id, tenant_id, hostname, is_active, verified_at, created_at) values ($1, $2, $3, true, now(), now())`
      : `insert into domain (id, tenant_id, hostname, verification_token, verification_expires_at, created_at) values ($1, $2, $3, 'legacy', now() + interval '7 days', now())`,
    [randomUUID(), tenantId, hostname],
  );
}

describe('hostnames under BASE_DOMAIN (the reproductions)', () => {
  test("addDomain refuses a future tenant's <slug>.BASE_DOMAIN; that tenant prepares READY and its users log in on its host", async () => {
    const squat = await addDomainAsReported(a, `victim-x.${BASE_DOMAIN}`);
    expectFailure(squat, 'BAD_USER_INPUT', 400);
    expect(squat.body.errors?.[0].extensions.field).toBe('hostname');
    expect(await rowsOf(`victim-x.${BASE_DOMAIN}`)).toEqual([]);

    const victim = await readyTenant(server, 'victim-x');
    const own = await login(adminEmail('victim-x'), `victim-x.${BASE_DOMAIN}`);
    expect(own.body.data?.login).toEqual({ user: { email: adminEmail('victim-x') }, tenant: { slug: 'victim-x' } });
    expectFailure(await login(adminEmail('alpha'), `victim-x.${BASE_DOMAIN}`), 'UNAUTHENTICATED', 401);
    expect(await rowsOf(`victim-x.${BASE_DOMAIN}`)).toEqual([{ tenantId: victim.tenantId, verified: true, isActive: true, isPrimary: true }]);
  });

  test("a squatted row from before this change (claim or even verified) neither routes nor fails another tenant's preparation", async () => {
    await insertRow(a.tenantId, `victim-y.${BASE_DOMAIN}`, 'claim');
    await insertRow(a.tenantId, `victim-z.${BASE_DOMAIN}`, 'verified');
    const [y, z] = await Promise.all([readyTenant(server, 'victim-y'), readyTenant(server, 'victim-z')]);

    for (const slug of ['victim-y', 'victim-z']) {
      const own = await login(adminEmail(slug), `${slug}.${BASE_DOMAIN}`);
      expect(own.body.data?.login.tenant).toEqual({ slug });
      expectFailure(await login(adminEmail('alpha'), `${slug}.${BASE_DOMAIN}`), 'UNAUTHENTICATED', 401);
    }
    // victim-y has its own verified row beside alpha's inert claim; victim-z goes without a row rather than fail.
    const byTenant = (rows: { tenantId: string }[]) => Object.fromEntries(rows.map((r) => [r.tenantId, r]));
    expect(byTenant(await rowsOf(`victim-y.${BASE_DOMAIN}`))).toEqual({
      [a.tenantId]: { tenantId: a.tenantId, verified: false, isActive: false, isPrimary: false },
      [y.tenantId]: { tenantId: y.tenantId, verified: true, isActive: true, isPrimary: true },
    });
    expect(await rowsOf(`victim-z.${BASE_DOMAIN}`)).toEqual([{ tenantId: a.tenantId, verified: true, isActive: true, isPrimary: false }]);
    expect((await gql(server, '{ currentTenant { status } }', {}, { token: z.token })).body.data.currentTenant).toEqual({ status: 'READY' });
  });

  test('a squatted row under BASE_DOMAIN can never be verified', async () => {
    await insertRow(a.tenantId, `victim-w.${BASE_DOMAIN}`, 'claim');
    const { rows } = await server.db.owner.query('select id from domain where hostname = $1', [`victim-w.${BASE_DOMAIN}`]);
    dns.publish(`_tenantry-challenge.victim-w.${BASE_DOMAIN}`, 'legacy');
    expectFailure(await verifyDomain(a, rows[0].id), 'BAD_USER_INPUT', 400);
    expect(await rowsOf(`victim-w.${BASE_DOMAIN}`)).toEqual([{ tenantId: a.tenantId, verified: false, isActive: false, isPrimary: false }]);
  });

  test.each(['tenantry.test', 'api.tenantry.test', 'www.tenantry.test', 'admin.tenantry.test'])('addDomain refuses the platform hostname %s', async (hostname) => {
    expectFailure(await addDomainAsReported(a, hostname), 'BAD_USER_INPUT', 400);
    expect(await rowsOf(hostname)).toEqual([]);
  });

  test('addDomain refuses IP literals and localhost names', async () => {
    for (const hostname of ['127.0.0.1', '10.0.0.1', 'localhost', 'shop.localhost']) {
      expect({ hostname, code: codeOf(await addDomainAsReported(a, hostname)) }).toEqual({ hostname, code: 'BAD_USER_INPUT' });
    }
    const { rows } = await server.db.owner.query(`select hostname from domain where tenant_id = $1 and (hostname like '%localhost' or hostname ~ '^[0-9.]+$')`, [a.tenantId]);
    expect(rows).toEqual([]);
  });

  /** A superadmin on `host`: which tenant it is placed in, and whether its login works there. */
  async function superadminOn(host: string) {
    const current = await gql(server, '{ currentTenant { slug } }', {}, { token: root, host });
    const r = await gql(server, 'mutation($input: LoginInput!) { login(input: $input) { user { role } tenant { slug } } }', { input: { email: SUPERADMIN_EMAIL, password: PASSWORD } }, { host });
    return { status: current.status, current: current.body.data, login: r.body.data?.login ?? codeOf(r) };
  }
  const NO_TENANT = { status: 200, current: { currentTenant: null }, login: { user: { role: 'SUPERADMIN' }, tenant: null } };

  test('after a tenant tried to add the API host, a superadmin there is still in no tenant and logs in', async () => {
    await addDomainAsReported(a, `api.${BASE_DOMAIN}`);
    expect(await superadminOn(`api.${BASE_DOMAIN}`)).toEqual(NO_TENANT);
  });

  test('a row of a platform hostname left from before places nobody in its tenant', async () => {
    await insertRow(a.tenantId, `www.${BASE_DOMAIN}`, 'verified');
    expect(await superadminOn(`www.${BASE_DOMAIN}`)).toEqual(NO_TENANT);
  });
});

describe('addDomain tells nothing about other tenants', () => {
  test('a hostname another tenant added is accepted like a free one (no CONFLICT)', async () => {
    expect(codeOf(await addDomainAsReported(b, 'shop.bravo-first.example'))).toBeUndefined();
    const taken = await addDomainAsReported(a, 'shop.bravo-first.example');
    const free = await addDomainAsReported(a, 'shop.free-first.example');
    for (const r of [taken, free]) expect({ status: r.status, errors: r.body.errors }).toEqual({ status: 200, errors: undefined });
  });

  /** The answer with what must differ between any two claims (id, name, token, instant) taken out. */
  const shape = (r: GqlResponse) => {
    const { id, hostname, verificationRecord, ...rest } = r.body.data.addDomain;
    return {
      status: r.status,
      errors: r.body.errors,
      ...rest,
      id: typeof id,
      record: {
        type: verificationRecord.type,
        name: verificationRecord.name === `_tenantry-challenge.${hostname}`,
        value: /^[0-9a-f]{32}$/.test(verificationRecord.value),
        expiresInDays: Math.round((Date.parse(verificationRecord.expiresAt) - Date.now()) / 86_400_000),
      },
    };
  };

  test('a hostname another tenant verified, one it only claimed and a free one get the same answer', async () => {
    await verifiedDomain(server, dns, { token: b.token }, 'shop.bravo-verified.example');
    await addDomain(b, 'shop.bravo-claimed.example');
    const answers = [
      await addDomain(a, 'shop.bravo-verified.example'),
      await addDomain(a, 'shop.bravo-claimed.example'),
      await addDomain(a, 'shop.nobody.example'),
    ].map(shape);
    expect(answers[0]).toEqual({
      status: 200,
      errors: undefined,
      id: 'string',
      isPrimary: false,
      isActive: false,
      verified: false,
      record: { type: 'TXT', name: true, value: true, expiresInDays: 7 },
    });
    expect(answers[1]).toEqual(answers[0]);
    expect(answers[2]).toEqual(answers[0]);
    // bravo's domain still routes to bravo alone; alpha's claim beside it changed nothing.
    expect(await rowsOf('shop.bravo-verified.example')).toEqual(
      [
        { tenantId: a.tenantId, verified: false, isActive: false, isPrimary: false },
        { tenantId: b.tenantId, verified: true, isActive: true, isPrimary: false },
      ].sort((x, y) => x.tenantId.localeCompare(y.tenantId)),
    );
    const onHost = await gql(server, '{ currentTenant { slug } }', {}, { token: root, host: 'shop.bravo-verified.example' });
    expect(onHost.body.data).toEqual({ currentTenant: { slug: 'bravo' } });
  });

  test('a hostname the tenant itself holds is CONFLICT (its own knowledge)', async () => {
    await addDomain(a, 'twice.alpha.example');
    const again = await addDomain(a, 'twice.alpha.example');
    expectFailure(again, 'CONFLICT', 409);
    expect(await rowsOf('twice.alpha.example')).toHaveLength(1);
  });
});

describe('verifyDomain against the DNS record', () => {
  test('a claim routes nothing; once its TXT record is published, verifyDomain makes it route to its tenant only', async () => {
    const claim = (await addDomain(a, 'shop.alpha.example')).body.data.addDomain;
    // Unverified: the host names no tenant, so another tenant's token works on it and a login finds no tenant.
    expect(codeOf(await gql(server, '{ currentTenant { slug } }', {}, { token: b.token, host: 'shop.alpha.example' }))).toBeUndefined();
    expectFailure(await login(adminEmail('alpha'), 'shop.alpha.example'), 'UNAUTHENTICATED', 401);

    dns.publish(claim.verificationRecord.name, claim.verificationRecord.value);
    const verified = await verifyDomain(a, claim.id);
    expect(verified.body).toEqual({ data: { verifyDomain: { id: claim.id, hostname: 'shop.alpha.example', isPrimary: false, isActive: true, verified: true, verificationRecord: null } } });

    expect((await login(adminEmail('alpha'), 'shop.alpha.example')).body.data?.login.tenant).toEqual({ slug: 'alpha' });
    expectFailure(await login(adminEmail('bravo'), 'shop.alpha.example'), 'UNAUTHENTICATED', 401);
    expectFailure(await gql(server, '{ currentTenant { slug } }', {}, { token: b.token, host: 'shop.alpha.example' }), 'TENANT_MISMATCH', 403);
    const { rows } = await server.db.owner.query('select tenant_id, verified_at is not null as verified, verification_token from domain where id = $1', [claim.id]);
    expect(rows).toEqual([{ tenant_id: a.tenantId, verified: true, verification_token: null }]);
  });

  test('without the record: DOMAIN_NOT_VERIFIED (422) RECORD_NOT_FOUND; with other values: RECORD_MISMATCH; nothing changes', async () => {
    const claim = (await addDomain(a, 'unproven.alpha.example')).body.data.addDomain;
    const missing = await verifyDomain(a, claim.id);
    expectFailure(missing, 'DOMAIN_NOT_VERIFIED', 422);
    expect(missing.body.errors?.[0].extensions.reason).toBe('RECORD_NOT_FOUND');

    dns.publish(claim.verificationRecord.name, 'not-the-token');
    const wrong = await verifyDomain(a, claim.id);
    expectFailure(wrong, 'DOMAIN_NOT_VERIFIED', 422);
    expect(wrong.body.errors?.[0].extensions.reason).toBe('RECORD_MISMATCH');
    expect(await rowsOf('unproven.alpha.example')).toEqual([{ tenantId: a.tenantId, verified: false, isActive: false, isPrimary: false }]);
  });

  test("one tenant's published token does not verify another tenant's claim on the same hostname", async () => {
    const [ofA, ofB] = [(await addDomain(a, 'contested.example')).body.data.addDomain, (await addDomain(b, 'contested.example')).body.data.addDomain];
    expect(ofA.verificationRecord.value).not.toBe(ofB.verificationRecord.value);
    dns.publish(ofA.verificationRecord.name, ofA.verificationRecord.value);

    const byB = await verifyDomain(b, ofB.id);
    expectFailure(byB, 'DOMAIN_NOT_VERIFIED', 422);
    expect(byB.body.errors?.[0].extensions.reason).toBe('RECORD_MISMATCH');
    expect((await verifyDomain(a, ofA.id)).body.data.verifyDomain.verified).toBe(true);
    expect(await rowsOf('contested.example')).toEqual(
      [
        { tenantId: a.tenantId, verified: true, isActive: true, isPrimary: false },
        { tenantId: b.tenantId, verified: false, isActive: false, isPrimary: false },
      ].sort((x, y) => x.tenantId.localeCompare(y.tenantId)),
    );
  });

  test('a hostname verified by one tenant: another gets DOMAIN_NOT_VERIFIED without its own proof, CONFLICT only with it', async () => {
    await verifiedDomain(server, dns, { token: a.token }, 'taken.example');
    const ofB = (await addDomain(b, 'taken.example')).body.data.addDomain;
    const unproven = await verifyDomain(b, ofB.id);
    expectFailure(unproven, 'DOMAIN_NOT_VERIFIED', 422);
    expect(unproven.body.errors?.[0].extensions.reason).toBe('RECORD_MISMATCH');

    dns.publish(ofB.verificationRecord.name, ofB.verificationRecord.value);
    expectFailure(await verifyDomain(b, ofB.id), 'CONFLICT', 409);
    expect((await rowsOf('taken.example')).filter((r) => r.verified).map((r) => r.tenantId)).toEqual([a.tenantId]);
    expect((await gql(server, '{ currentTenant { slug } }', {}, { token: root, host: 'taken.example' })).body.data).toEqual({ currentTenant: { slug: 'alpha' } });
  });

  test("verifyDomain with another tenant's domain id is NOT_FOUND, like an unknown id, and verifies nothing", async () => {
    const claim = (await addDomain(a, 'private.alpha.example')).body.data.addDomain;
    dns.publish(claim.verificationRecord.name, claim.verificationRecord.value);
    const foreign = await verifyDomain(b, claim.id);
    const unknown = await verifyDomain(b, randomUUID());
    expectFailure(foreign, 'NOT_FOUND', 404);
    expect(foreign.body.errors).toEqual(unknown.body.errors);
    expectFailure(await verifyDomain(b, 'not-an-id'), 'BAD_USER_INPUT', 400);
    expect(await rowsOf('private.alpha.example')).toEqual([{ tenantId: a.tenantId, verified: false, isActive: false, isPrimary: false }]);
  });

  test('verifyDomain of a domain already verified returns it unchanged', async () => {
    const own = (await gql(server, '{ currentTenant { domains { id hostname } } }', {}, { token: a.token })).body.data.currentTenant.domains.find(
      (d: { hostname: string }) => d.hostname === `alpha.${BASE_DOMAIN}`,
    );
    const r = await verifyDomain(a, own.id);
    expect(r.body.data.verifyDomain).toMatchObject({ hostname: `alpha.${BASE_DOMAIN}`, isPrimary: true, verified: true });
  });
});

describe('claims expire', () => {
  const expire = (tenantId: string, hostname: string) =>
    server.db.owner.query(`update domain set verification_expires_at = now() - interval '1 second' where tenant_id = $1 and hostname = $2`, [tenantId, hostname]);

  test('verifyDomain refuses an expired claim with DOMAIN_CLAIM_EXPIRED (410), even with its record published', async () => {
    const claim = (await addDomain(a, 'late.alpha.example')).body.data.addDomain;
    dns.publish(claim.verificationRecord.name, claim.verificationRecord.value);
    await expire(a.tenantId, 'late.alpha.example');
    expectFailure(await verifyDomain(a, claim.id), 'DOMAIN_CLAIM_EXPIRED', 410);
    expect(await rowsOf('late.alpha.example')).toEqual([{ tenantId: a.tenantId, verified: false, isActive: false, isPrimary: false }]);
  });

  test("adding the hostname again replaces the tenant's expired claims with a new token; other tenants' expired claims stay theirs", async () => {
    const first = (await addDomain(a, 'again.alpha.example')).body.data.addDomain;
    await addDomain(b, 'again.alpha.example');
    await expire(a.tenantId, 'again.alpha.example');
    await expire(b.tenantId, 'again.alpha.example');

    const again = (await addDomain(a, 'again.alpha.example')).body.data.addDomain;
    expect(again.id).not.toBe(first.id);
    expect(again.verificationRecord.value).not.toBe(first.verificationRecord.value);
    const { rows } = await server.db.owner.query(
      `select tenant_id as "tenantId", verification_expires_at > now() as live from domain where hostname = $1 order by tenant_id`,
      ['again.alpha.example'],
    );
    expect(rows).toEqual([{ tenantId: a.tenantId, live: true }, { tenantId: b.tenantId, live: false }].sort((x, y) => x.tenantId.localeCompare(y.tenantId)));
  });
});

describe('primary domains', () => {
  test('addDomain with isPrimary makes it primary only once verified, replacing the old primary', async () => {
    const t = await readyTenant(server, 'charlie');
    const claim = (await addDomain(t, 'www.charlie.example', true)).body.data.addDomain;
    expect(claim.isPrimary).toBe(false);
    const primaryOf = async () =>
      (await gql(server, DOMAINS, {}, { token: t.token })).body.data.currentTenant.domains.filter((d: { isPrimary: boolean }) => d.isPrimary).map((d: { hostname: string }) => d.hostname);
    expect(await primaryOf()).toEqual([`charlie.${BASE_DOMAIN}`]);

    dns.publish(claim.verificationRecord.name, claim.verificationRecord.value);
    expect((await verifyDomain(t, claim.id)).body.data.verifyDomain).toMatchObject({ isPrimary: true, verified: true });
    expect(await primaryOf()).toEqual(['www.charlie.example']);
  });
});

test("Tenant.domains lists the tenant's own domains only, its <slug>.BASE_DOMAIN verified with no record to publish", async () => {
  const t = await signUp(server, 'delta');
  await waitReady(server, t.token);
  await addDomain(t, 'pending.delta.example');
  await verifiedDomain(server, dns, { token: t.token }, 'live.delta.example');
  const r = await gql(server, DOMAINS, {}, { token: t.token });
  expect(r.body.data.currentTenant.domains).toEqual([
    { hostname: `delta.${BASE_DOMAIN}`, isPrimary: true, isActive: true, verified: true, verificationRecord: null },
    { hostname: 'live.delta.example', isPrimary: false, isActive: true, verified: true, verificationRecord: null },
    { hostname: 'pending.delta.example', isPrimary: false, isActive: false, verified: false, verificationRecord: { name: '_tenantry-challenge.pending.delta.example' } },
  ]);
  const other: GqlOptions = { token: root, tenant: b.tenantId };
  const ofB = (await gql(server, DOMAINS, {}, other)).body.data.currentTenant.domains.map((d: { hostname: string }) => d.hostname);
  expect(ofB.some((h: string) => h.includes('delta'))).toBe(false);
});
