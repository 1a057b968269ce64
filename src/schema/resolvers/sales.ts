import type { GraphQLResolveInfo } from 'graphql';
import { Arg, Args, ArgsType, Ctx, Field, FieldResolver, ID, Info, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import type { RequestContext } from '../../context/requestContext.js';
import { requireScopedTenantId } from '../../filters/scope.js';
import { Customer } from '../../entities/Customer.js';
import { Order, OrderStatus } from '../../entities/Order.js';
import { OrderLine } from '../../entities/OrderLine.js';
import { Product } from '../../entities/Product.js';
import { badInput, notFound } from '../../errors.js';
import { requireTenantData } from '../guards.js';
import { mutate } from '../mutate.js';
import { decodeCursor, type Page, toPage } from '../pagination.js';
import { allOf, anyId, countRows, type CustomerRow, findRows, type OrderLineRow, type OrderRow, type ProductRow } from '../rows.js';
import { selectedFields } from '../selection.js';
import { CustomerConnection, CustomerInput, CustomerType, OrderConnection, OrderInput, OrderLineType, OrderType, ProductType } from '../types.js';
import { CUSTOMERS_AFTER, CUSTOMERS_MATCHING, NEXT_ORDER_NUMBER, ORDERS_BEFORE, ORDERS_IN_STATUS } from '../sql.js';
import * as v from '../validation.js';
import { likePattern } from './catalog.js';

/**
 * Order lines per flush in `createOrder`. Each batch's entities and change sets are computed in one
 * synchronous step, which every other request of the process waits behind: 100 lines held the event
 * loop ~15–25 ms a step, and another tenant's read, which crosses the loop about five times, had p99
 * ×3.1–3.5 of quiet under a flood of large orders; 25 lines, ×2.0–2.7 (bench/README.md, noisy
 * neighbour). The price is more insert statements (40 for 1,000 lines), a round trip each.
 */
const LINES_PER_FLUSH = 25;

@ArgsType()
class PageArgs {
  @Field(() => Int, { nullable: true, defaultValue: 20 }) first?: number | null;
  @Field(() => String, { nullable: true }) after?: string | null;
}

@ArgsType()
class CustomersArgs extends PageArgs {
  @Field(() => String, { nullable: true }) search?: string | null;
}

@ArgsType()
class OrdersArgs extends PageArgs {
  @Field(() => OrderStatus, { nullable: true }) status?: OrderStatus | null;
}

@Resolver(() => CustomerType)
export class CustomerResolver {
  @Query(() => CustomerConnection, { description: 'Ordered by name.' })
  async customers(@Args(() => CustomersArgs) args: CustomersArgs, @Ctx() ctx: RequestContext, @Info() info: GraphQLResolveInfo): Promise<Page<CustomerRow>> {
    requireTenantData(ctx);
    const first = v.first(args.first, 20);
    const search = v.search(args.search);
    const after = decodeCursor(args.after, ['text', 'uuid']);
    const where = search ? { sql: CUSTOMERS_MATCHING, params: [likePattern(search), likePattern(search)] } : null;
    const page = after ? { sql: CUSTOMERS_AFTER, params: [after[0], after[0], after[1]] } : null;
    const rows = await findRows(ctx.em, Customer, allOf([where, page]), {
      orderBy: { name: 'asc', id: 'asc' },
      limit: first + 1,
      fields: selectedFields(info, ['edges', 'node']).add('name'), // the cursor's key, with id
    });
    return toPage(rows, { first, after: args.after }, (c) => [c.name, c.id], () => countRows(ctx.em, Customer, allOf([where])));
  }

  @Query(() => CustomerType, { nullable: true })
  customer(@Arg('id', () => ID) id: string, @Ctx() ctx: RequestContext): Promise<CustomerRow | null> {
    requireTenantData(ctx);
    return ctx.loaders.customer.load(v.id(id));
  }

  @Mutation(() => CustomerType)
  createCustomer(@Arg('input', () => CustomerInput) input: CustomerInput, @Ctx() ctx: RequestContext): Promise<Customer> {
    requireTenantData(ctx);
    const data = { name: v.name(input.name), email: input.email == null ? null : v.email(input.email) };
    return mutate(ctx, async (em) => {
      const customer = em.create(Customer, data);
      await em.flush();
      return customer;
    });
  }

  @FieldResolver(() => OrderConnection, { description: 'Newest number first.' })
  async orders(@Root() customer: CustomerRow, @Args(() => PageArgs) args: PageArgs, @Ctx() ctx: RequestContext): Promise<Page<OrderRow>> {
    const first = v.first(args.first, 20);
    const [before] = decodeCursor(args.after, ['int']) ?? [];
    const rows = await ctx.loaders.customerOrders(first + 1, before).load(customer.id);
    return toPage(rows, { first, after: args.after }, (o) => [o.number], () => ctx.loaders.customerOrderCount.load(customer.id));
  }
}

@Resolver(() => OrderType)
export class OrderResolver {
  @Query(() => OrderConnection, { description: 'Newest number first.' })
  async orders(@Args(() => OrdersArgs) args: OrdersArgs, @Ctx() ctx: RequestContext, @Info() info: GraphQLResolveInfo): Promise<Page<OrderRow>> {
    requireTenantData(ctx);
    const first = v.first(args.first, 20);
    const [before] = decodeCursor(args.after, ['int']) ?? [];
    const where = args.status ? { sql: ORDERS_IN_STATUS, params: [args.status] } : null;
    const fields = selectedFields(info, ['edges', 'node']).add('number'); // the cursor's key
    const rows = await findRows(ctx.em, Order, allOf([where, before === undefined ? null : { sql: ORDERS_BEFORE, params: [before] }]), {
      orderBy: { number: 'desc' },
      limit: first + 1,
      fields,
    });
    const result = toPage(rows, { first, after: args.after }, (o) => [o.number], () => countRows(ctx.em, Order, allOf([where])));
    await preloadRelations(ctx, result.edges.map((e) => e.node), fields, info, ['edges', 'node']);
    return result;
  }

  @Query(() => OrderType, { nullable: true })
  async order(@Arg('id', () => ID) id: string, @Ctx() ctx: RequestContext, @Info() info: GraphQLResolveInfo): Promise<OrderRow | null> {
    requireTenantData(ctx);
    const fields = selectedFields(info);
    const [row] = await findRows(ctx.em, Order, anyId('id', [v.id(id)]), { limit: 1, fields });
    if (!row) return null;
    await preloadRelations(ctx, [row], fields, info, []);
    return row;
  }

  @Mutation(() => OrderType, { description: 'Unit prices are copied from the products; the number is the next of the tenant.' })
  createOrder(@Arg('input', () => OrderInput) input: OrderInput, @Ctx() ctx: RequestContext): Promise<Order> {
    requireTenantData(ctx);
    const customerId = v.id(input.customerId, 'customerId');
    if (input.lines.length === 0) throw badInput('An order has at least one line', 'lines');
    if (input.lines.length > 1000) throw badInput('An order has at most 1000 lines', 'lines');
    const lines = input.lines.map((l, i) => ({
      productId: v.id(l.productId, `lines.${i}.productId`),
      quantity: v.quantity(l.quantity, `lines.${i}.quantity`),
    }));
    return mutate(ctx, async (em) => {
      const customer = await em.findOne(Customer, { id: customerId });
      if (!customer) throw notFound('Customer');
      const products = await em.find(Product, { id: { $in: [...new Set(lines.map((l) => l.productId))] } });
      const byId = new Map(products.map((p) => [p.id, p]));
      const missing = lines.findIndex((l) => !byId.has(l.productId));
      if (missing >= 0) throw badInput('No such product', `lines.${missing}.productId`);
      const totalCents = v.int32(
        lines.reduce((sum, l) => sum + l.quantity * byId.get(l.productId)!.priceCents, 0),
        'totalCents',
      );
      const order = em.create(Order, { number: await nextOrderNumber(em), customer, totalCents });
      // In batches, each flushed and then let go of: a flush computes change sets for every entity the
      // EntityManager holds, synchronously, so one flush of 1,000 lines held the event loop ~150 ms
      // (every other request of the process waited); batches cost the same in all, in short steps.
      for (let i = 0; i < lines.length; i += LINES_PER_FLUSH) {
        const batch = lines.slice(i, i + LINES_PER_FLUSH).map((l) => {
          const product = byId.get(l.productId)!;
          return em.create(OrderLine, { order, product, quantity: l.quantity, unitPriceCents: product.priceCents });
        });
        await em.flush();
        for (const line of batch) em.getUnitOfWork().unsetIdentity(line);
      }
      return order;
    });
  }

  @Mutation(() => OrderType)
  setOrderStatus(@Arg('id', () => ID) id: string, @Arg('status', () => OrderStatus) status: OrderStatus, @Ctx() ctx: RequestContext): Promise<Order> {
    requireTenantData(ctx);
    const orderId = v.id(id);
    return mutate(ctx, async (em) => {
      const order = await em.findOne(Order, { id: orderId });
      if (!order) throw notFound('Order');
      order.status = status;
      await em.flush();
      return order;
    });
  }

  // Not `async`: a row already loaded is answered as a value (RowLoader.now). The foreign key
  // guarantees the row; a missing one would be the non-null field's error.
  @FieldResolver(() => CustomerType)
  customer(@Root() order: OrderRow, @Ctx() ctx: RequestContext): CustomerRow | null | Promise<CustomerRow | null> {
    return ctx.loaders.customer.now(order.customer.id);
  }

  @FieldResolver(() => [OrderLineType])
  lines(@Root() order: OrderRow, @Ctx() ctx: RequestContext): OrderLineRow[] | Promise<OrderLineRow[]> {
    return ctx.loaders.orderLines.now(order.id);
  }
}

@Resolver(() => OrderLineType)
export class OrderLineResolver {
  @FieldResolver(() => ProductType)
  product(@Root() line: OrderLineRow, @Ctx() ctx: RequestContext): ProductRow | null | Promise<ProductRow | null> {
    return ctx.loaders.product.now(line.product.id);
  }
}

/**
 * Loads what the operation selects through these orders' relations (their customers and lines, one
 * batch each in the same tick, then the lines' products) before graphql-js walks them, so the field
 * resolvers above answer with values: the page is then completed in one synchronous pass instead of a
 * promise per relation field (src/schema/loaders.ts, RowLoader). The statements are the ones those
 * fields would have caused, through the same loaders. `fields` is what the operation selects on the
 * orders, `path` leads from the resolver's field to them.
 */
async function preloadRelations(ctx: RequestContext, orders: readonly OrderRow[], fields: ReadonlySet<string>, info: GraphQLResolveInfo, path: readonly string[]): Promise<void> {
  if (orders.length === 0) return;
  const customers = fields.has('customer') ? ctx.loaders.customer.preload(orders.map((o) => o.customer.id)) : undefined;
  if (fields.has('lines')) {
    const lines = (await ctx.loaders.orderLines.preload(orders.map((o) => o.id))).flat();
    if (lines.length > 0 && selectedFields(info, [...path, 'lines']).has('product')) await ctx.loaders.product.preload(lines.map((l) => l.product.id));
  }
  await customers;
}

/**
 * Takes the tenant's next order number. The counter row stays locked until the order's transaction
 * ends, so concurrent orders queue here, and a rolled-back order hands its number back.
 */
async function nextOrderNumber(em: Parameters<Parameters<typeof mutate>[1]>[0]): Promise<number> {
  const [row] = await em.execute<{ last_number: number }[]>(NEXT_ORDER_NUMBER, [requireScopedTenantId('order number')]);
  return row.last_number;
}
