import { RowLoader } from '../../src/schema/loaders.js';

// RowLoader answers keys whose batch is back with values (no promise), so graphql-js completes the
// fields that read them synchronously; everything else goes through DataLoader as before.

test('a key is answered with a promise until its batch is back, then with the value itself', async () => {
  const batches: string[][] = [];
  const loader = new RowLoader(async (keys) => {
    batches.push([...keys]);
    return keys.map((k) => (k === 'missing' ? null : `row ${k}`));
  });
  const before = loader.now('a');
  expect(before).toBeInstanceOf(Promise);
  await expect(before).resolves.toBe('row a');
  expect(loader.now('a')).toBe('row a');
  expect(await loader.preload(['b', 'missing'])).toEqual(['row b', null]);
  expect(loader.now('b')).toBe('row b');
  expect(loader.now('missing')).toBeNull(); // a key without a row is loaded too: null, not a new load
  expect(batches).toEqual([['a'], ['b', 'missing']]);
});

test('preloads started in the same tick share one batch', async () => {
  const batches: string[][] = [];
  const loader = new RowLoader(async (keys) => {
    batches.push([...keys]);
    return keys.map((k) => k);
  });
  await Promise.all([loader.preload(['a', 'b']), loader.preload(['b', 'c'])]);
  expect(batches).toEqual([['a', 'b', 'c']]);
});

test('a failed batch does not reject the preload; the keys it held report the failure when read', async () => {
  const loader = new RowLoader<string>(async () => {
    throw new Error('statement failed');
  });
  await expect(loader.preload(['a'])).resolves.toEqual([]);
  const read = loader.now('a');
  expect(read).toBeInstanceOf(Promise);
  await expect(read).rejects.toThrow('statement failed');
});
