import { withoutStringLiterals } from '../../src/tracing/sdk.js';

describe('statements are recorded without their string literals', () => {
  test.each([
    [`select "u"."email" from "user" as "u" where lower("u"."email") = 'ada@acme.io' limit 1`, `select "u"."email" from "user" as "u" where lower("u"."email") = '?' limit 1`],
    [`insert into "customer" ("name") values ('O''Brien'), ('Ada')`, `insert into "customer" ("name") values ('?'), ('?')`],
    [`update "user" set "password_hash" = E'\\\\x00''\\\\' where "id" = 'b1'`, `update "user" set "password_hash" = '?' where "id" = '?'`],
    [`insert into "order" ("tenant_id", "total_cents", "status") values ($1, 1250, 'OPEN')`, `insert into "order" ("tenant_id", "total_cents", "status") values ($1, 1250, '?')`],
    [`select set_config('app.tenant_id', '8c2e…', true)`, `select set_config('?', '?', true)`],
    [`select "type" from "e" where "type"='x'`, `select "type" from "e" where "type"='?'`],
  ])('%s', (sql, recorded) => {
    expect(withoutStringLiterals(sql)).toBe(recorded);
  });
});
