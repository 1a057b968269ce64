/**
 * The documentation against the code, where the check is mechanical: docs/api.md (the API reference
 * clients rely on) against the error codes and the printed schema, README's configuration table against
 * what src/config.ts reads, and every link between the documents.
 */
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { buildSchema, type GraphQLObjectType } from 'graphql';
import { ERROR_STATUS } from '../src/errors.js';
import { CLOSE } from '../src/server/graphqlWs.js';
import { backticked, section, tableRows } from './support/markdown.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');
const API = read('docs/api.md');

test("docs/api.md's error table lists every code of src/errors.ts, with its HTTP status, and no other", () => {
  const documented = Object.fromEntries(tableRows(section(API, 'Errors')).map(([code, status]) => [backticked(code)[0], Number(status)]));
  expect(documented).toEqual(ERROR_STATUS);
});

test('docs/api.md names every root field of the schema', () => {
  const schema = buildSchema(read('schema.graphql'));
  const roots = [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()] as GraphQLObjectType[];
  const named = new Set(backticked(API).map((name) => name.replace(/\(.*$/, '')));
  const missing = roots.flatMap((type) => Object.keys(type.getFields()).filter((field) => !named.has(field)).map((field) => `${type.name}.${field}`));
  expect(missing).toEqual([]);
});

test("docs/api.md's WebSocket table lists every close code the server sends", () => {
  const documented = new Set(tableRows(section(API, 'WebSocket')).map(([code]) => Number(code)));
  const source = read('src/server/graphqlWs.ts');
  const literal = [...source.matchAll(/\.close\((\d{4})/g)].map((m) => Number(m[1]));
  expect([...Object.values(CLOSE), ...literal].filter((code) => !documented.has(code))).toEqual([]);
});

test("README's configuration table names every environment variable src/config.ts reads, and no other", () => {
  const readByConfig = new Set([...read('src/config.ts').matchAll(/\benv\.([A-Z][A-Z0-9_]*)/g)].map((m) => m[1]));
  const documented = new Set(tableRows(section(read('README.md'), 'Configuration')).flatMap(([names]) => backticked(names)));
  expect([...readByConfig].filter((name) => !documented.has(name)).sort()).toEqual([]);
  expect([...documented].filter((name) => !readByConfig.has(name)).sort()).toEqual([]);
});

describe('links between the documents', () => {
  const documents = ['README.md', 'bench/README.md', ...readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

  /** GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens. */
  const anchors = (file: string) =>
    new Set(
      read(file)
        .split('\n')
        .filter((l) => /^#+ /.test(l))
        .map((l) =>
          l
            .replace(/^#+ /, '')
            .toLowerCase()
            .replace(/[^\p{L}\p{N}\s_-]/gu, '')
            .replace(/\s/g, '-'),
        ),
    );

  test.each(documents)('every relative link of %s names a file of the repository (and a heading in it)', (file) => {
    const broken: string[] = [];
    for (const [, target] of read(file).matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target)) continue;
      const [pathPart, anchor] = target.split('#');
      const linked = pathPart ? path.relative(ROOT, path.resolve(path.dirname(path.join(ROOT, file)), pathPart)) : file;
      const inside = !linked.startsWith('..') && existsSync(path.join(ROOT, linked));
      if (!inside || (anchor && linked.endsWith('.md') && !anchors(linked).has(anchor))) broken.push(target);
    }
    expect(broken).toEqual([]);
  });
});
