import type { GraphQLResolveInfo } from 'graphql';
import { Arg, Args, ArgsType, Ctx, Field, ID, Info, Int, Mutation, Query, Resolver } from 'type-graphql';
import type { RequestContext } from '../../context/requestContext.js';
import { OrderLine } from '../../entities/OrderLine.js';
import { Product } from '../../entities/Product.js';
import { Role } from '../../entities/User.js';
import { AppError, notFound } from '../../errors.js';
import { requireTenantData } from '../guards.js';
import { mutate } from '../mutate.js';
import { decodeCursor, type Page, toPage } from '../pagination.js';
import { allOf, countRows, findRows, type ProductRow } from '../rows.js';
import { selectedFields } from '../selection.js';
import { PRODUCTS_AFTER, PRODUCTS_MATCHING } from '../sql.js';
import { ProductConnection, ProductInput, ProductPatch, ProductType } from '../types.js';
import * as v from '../validation.js';

@ArgsType()
class ProductsArgs {
  @Field(() => Int, { nullable: true, defaultValue: 20 }) first?: number | null;
  @Field(() => String, { nullable: true }) after?: string | null;
  @Field(() => String, { nullable: true }) search?: string | null;
}

const SKU_TAKEN = { product_tenant_id_sku_unique: { message: 'A product with this sku already exists', field: 'sku' } };

/** `%` and `_` in a search are literal characters, not wildcards. */
export const likePattern = (search: string) => `%${search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

@Resolver(() => ProductType)
export class CatalogResolver {
  @Query(() => ProductConnection, { description: 'Ordered by sku.' })
  async products(@Args(() => ProductsArgs) args: ProductsArgs, @Ctx() ctx: RequestContext, @Info() info: GraphQLResolveInfo): Promise<Page<ProductRow>> {
    requireTenantData(ctx);
    const first = v.first(args.first, 20);
    const search = v.search(args.search);
    const [afterSku] = decodeCursor(args.after, ['text']) ?? [];
    const where = search ? { sql: PRODUCTS_MATCHING, params: [likePattern(search), likePattern(search)] } : null;
    const rows = await findRows(ctx.em, Product, allOf([where, afterSku === undefined ? null : { sql: PRODUCTS_AFTER, params: [afterSku] }]), {
      orderBy: { sku: 'asc' },
      limit: first + 1,
      fields: selectedFields(info, ['edges', 'node']).add('sku'), // the cursor's key
    });
    return toPage(rows, { first, after: args.after }, (p) => [p.sku], () => countRows(ctx.em, Product, allOf([where])));
  }

  @Query(() => ProductType, { nullable: true })
  product(@Arg('id', () => ID) id: string, @Ctx() ctx: RequestContext): Promise<ProductRow | null> {
    requireTenantData(ctx);
    return ctx.loaders.product.load(v.id(id));
  }

  @Mutation(() => ProductType, { description: 'ADMIN.' })
  createProduct(@Arg('input', () => ProductInput) input: ProductInput, @Ctx() ctx: RequestContext): Promise<Product> {
    requireTenantData(ctx, Role.ADMIN);
    const data = { sku: v.sku(input.sku), name: v.name(input.name), priceCents: v.priceCents(input.priceCents) };
    return mutate(
      ctx,
      async (em) => {
        if (await em.count(Product, { sku: data.sku })) throw new AppError('CONFLICT', SKU_TAKEN.product_tenant_id_sku_unique.message, { field: 'sku' });
        const product = em.create(Product, data);
        await em.flush();
        return product;
      },
      { unique: SKU_TAKEN },
    );
  }

  @Mutation(() => ProductType, { description: 'ADMIN.' })
  updateProduct(@Arg('id', () => ID) id: string, @Arg('patch', () => ProductPatch) patch: ProductPatch, @Ctx() ctx: RequestContext): Promise<Product> {
    requireTenantData(ctx, Role.ADMIN);
    const productId = v.id(id);
    const changes: Partial<Pick<Product, 'sku' | 'name' | 'priceCents'>> = {};
    if (patch.sku != null) changes.sku = v.sku(patch.sku);
    if (patch.name != null) changes.name = v.name(patch.name);
    if (patch.priceCents != null) changes.priceCents = v.priceCents(patch.priceCents);
    return mutate(
      ctx,
      async (em) => {
        const product = await em.findOne(Product, { id: productId });
        if (!product) throw notFound('Product');
        if (changes.sku && changes.sku !== product.sku && (await em.count(Product, { sku: changes.sku }))) {
          throw new AppError('CONFLICT', SKU_TAKEN.product_tenant_id_sku_unique.message, { field: 'sku' });
        }
        em.assign(product, changes);
        await em.flush();
        return product;
      },
      { unique: SKU_TAKEN },
    );
  }

  @Mutation(() => Boolean, { description: 'ADMIN. CONFLICT while order lines use the product.' })
  deleteProduct(@Arg('id', () => ID) id: string, @Ctx() ctx: RequestContext): Promise<boolean> {
    requireTenantData(ctx, Role.ADMIN);
    const productId = v.id(id);
    const inUse = 'The product is used by order lines';
    return mutate(
      ctx,
      async (em) => {
        const product = await em.findOne(Product, { id: productId });
        if (!product) throw notFound('Product');
        if (await em.count(OrderLine, { product: { id: productId } })) throw new AppError('CONFLICT', inUse);
        em.remove(product);
        await em.flush();
        return true;
      },
      { inUse },
    );
  }
}
