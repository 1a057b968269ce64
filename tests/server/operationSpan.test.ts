/**
 * Tracing in process: OpenTelemetry's SDK as the server starts it (src/tracing/sdk.ts), its spans
 * collected by the SDK's in-memory exporter. tests/server/main.test.ts runs the production build with
 * an OTLP exporter instead.
 */
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { SPAN_ATTRIBUTES } from '../../src/server/operationSpan.js';
import { startTracing, type Tracing } from '../../src/tracing/sdk.js';
import { createCustomer, createProduct, readyTenant, type SignedUp } from '../support/fixtures.js';
import { gql, startTestServer, type TestServer, wsClient, wsRequest } from '../support/server.js';

const exporter = new InMemorySpanExporter();
let tracing: Tracing;
let server: TestServer;
let shop: SignedUp;
let customerId: string;
let productId: string;

beforeAll(async () => {
  tracing = startTracing({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  // Any OTEL_TRACES_EXPORTER turns tracing on in the configuration; the spans go to the processor above.
  server = await startTestServer({ env: { OTEL_TRACES_EXPORTER: 'otlp' } });
  // Under Node the instrumentation patches `pg` as `require` loads it; jest loads modules through its
  // own loader, which no require hook sees. So the patch is applied here, as the hook applies it, to
  // the classes the server's pool uses: its client class (module `pg`) and pg-pool's pool class.
  // (`getModuleDefinitions` is the instrumentation's API for patching without hooks, as bundlers do.)
  const pool = (await server.orm.em.getConnection().getNativeClient()) as pg.Pool & { Client: typeof pg.Client };
  const modules: Record<string, unknown> = { pg: { Client: pool.Client }, 'pg-pool': Object.getPrototypeOf(pool.constructor) };
  for (const instrumentation of tracing.instrumentations) {
    for (const definition of instrumentation.getModuleDefinitions()) definition.patch?.(modules[definition.name]);
  }
  shop = await readyTenant(server, 'traced');
  customerId = await createCustomer(server, { token: shop.token }, 'Ada Lovelace', 'ada@traced.example.com');
  productId = await createProduct(server, { token: shop.token }, 'P-1', 250);
});
afterAll(async () => {
  await server?.close();
  await tracing?.shutdown();
});
beforeEach(() => exporter.reset());

const PLACE_ORDER = `mutation PlaceOrder($i: OrderInput!) { createOrder(input: $i) { id } }`;
const placeOrder = (headers: Record<string, string> = {}) => gql(server, PLACE_ORDER, { i: { customerId, lines: [{ productId, quantity: 1 }] } }, { token: shop.token, headers });

const spans = () => exporter.getFinishedSpans();
const spanNamed = (name: string): ReadableSpan => {
  const found = spans().filter((s) => s.name === name);
  expect(found.map((s) => s.name)).toEqual([name]);
  return found[0];
};
const childrenOf = (parent: ReadableSpan) => spans().filter((s) => s.parentSpanContext?.spanId === parent.spanContext().spanId);

test('an operation is one server span named after it, with its type, name, tenant id and user id, and nothing else', async () => {
  expect((await placeOrder()).status).toBe(200);
  const span = spanNamed('mutation PlaceOrder');
  expect(span.kind).toBe(SpanKind.SERVER);
  expect(span.attributes).toEqual({
    [SPAN_ATTRIBUTES.operationType]: 'mutation',
    [SPAN_ATTRIBUTES.operationName]: 'PlaceOrder',
    [SPAN_ATTRIBUTES.tenantId]: shop.tenantId,
    [SPAN_ATTRIBUTES.userId]: shop.userId,
  });
  expect(span.status.code).toBe(SpanStatusCode.UNSET);
  expect(span.parentSpanContext).toBeUndefined();
});

test('the database statements of its unit of work are its children, in its trace', async () => {
  await placeOrder();
  const operation = spanNamed('mutation PlaceOrder');
  const statements = childrenOf(operation).filter((s) => s.attributes['db.system.name'] === 'postgresql' && s.attributes['db.query.text']);
  const texts = statements.map((s) => String(s.attributes['db.query.text']));
  expect(texts.some((t) => /^insert into "order"/.test(t))).toBe(true);
  expect(texts.some((t) => /^insert into "order_line"/.test(t))).toBe(true);
  expect(new Set(statements.map((s) => s.spanContext().traceId))).toEqual(new Set([operation.spanContext().traceId]));
});

test('statements are recorded without their values: no names, emails or other string literals', async () => {
  const r = await gql(server, `query Customers { customers(search: "Lovelace") { edges { node { name email } } } }`, {}, { token: shop.token });
  expect(r.body.data.customers.edges).toHaveLength(1);
  const statements = childrenOf(spanNamed('query Customers')).map((s) => String(s.attributes['db.query.text'] ?? ''));
  expect(statements.some((t) => /from "customer"/.test(t))).toBe(true);
  expect(statements.join('\n')).not.toMatch(/Lovelace|ada@|traced\.example/);
});

test('a client’s traceparent makes the operation a child of the client’s span, in the client’s trace', async () => {
  const traceId = randomBytes(16).toString('hex');
  const clientSpanId = randomBytes(8).toString('hex');
  await placeOrder({ traceparent: `00-${traceId}-${clientSpanId}-01` });
  const span = spanNamed('mutation PlaceOrder');
  expect(span.spanContext().traceId).toBe(traceId);
  expect(span.parentSpanContext).toMatchObject({ traceId, spanId: clientSpanId, isRemote: true });
});

test('an operation that fails has status ERROR and its error code as error.type', async () => {
  const r = await gql(server, `query Broken { product(id: "not-an-id") { id } }`, {}, { token: shop.token });
  expect(r.body.errors![0].extensions.code).toBe('BAD_USER_INPUT');
  const span = spanNamed('query Broken');
  expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: 'BAD_USER_INPUT' });
  expect(span.attributes[SPAN_ATTRIBUTES.errorType]).toBe('BAD_USER_INPUT');
});

test('an anonymous operation is named by its type; over WebSocket too', async () => {
  const client = wsClient(server, { token: shop.token });
  try {
    expect((await wsRequest(client, '{ currentTenant { id } }')).data).toEqual({ currentTenant: { id: shop.tenantId } });
  } finally {
    await client.dispose();
  }
  const span = spanNamed('query');
  expect(span.attributes).toMatchObject({ [SPAN_ATTRIBUTES.operationType]: 'query', [SPAN_ATTRIBUTES.tenantId]: shop.tenantId });
  expect(span.attributes[SPAN_ATTRIBUTES.operationName]).toBeUndefined();
});

test('with tracing off in the configuration, the pipeline starts no span even with an SDK running', async () => {
  const untraced = await startTestServer({ db: server.db, worker: false });
  try {
    expect((await gql(untraced, `query Quiet { currentTenant { id } }`, {}, { token: shop.token })).status).toBe(200);
  } finally {
    await untraced.close();
  }
  expect(spans()).toEqual([]);
});
