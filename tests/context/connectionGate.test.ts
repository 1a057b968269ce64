/**
 * The gate in front of the unit of work (src/context/connectionGate.ts) on its own: shares, order and
 * refusals. Its effect on a real server (a flooding tenant against a quiet one) is in
 * tests/server/noisyNeighbour.test.ts.
 */
import { ConnectionGate } from '../../src/context/connectionGate.js';
import { AppError } from '../../src/errors.js';

/** A unit of work that runs until the test ends it. */
function held() {
  let end!: () => void;
  const ended = new Promise<void>((resolve) => (end = resolve));
  return { fn: () => ended, end };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

test('a key runs at most its share at once; the next of that key starts when one ends', async () => {
  const gate = new ConnectionGate({ perKey: 2, total: 10, maxWaitMs: 0 });
  const units = [held(), held(), held()];
  const started: number[] = [];
  const runs = units.map((u, i) => gate.run('a', () => (started.push(i), u.fn())));
  await tick();
  expect(started).toEqual([0, 1]);
  units[0].end();
  await tick();
  expect(started).toEqual([0, 1, 2]);
  units[1].end();
  units[2].end();
  await Promise.all(runs);
});

test('a key at its share does not hold up other keys behind it', async () => {
  const gate = new ConnectionGate({ perKey: 1, total: 10, maxWaitMs: 0 });
  const a = [held(), held()];
  const runs = a.map((u) => gate.run('a', u.fn));
  let bRan = false;
  await gate.run('b', async () => void (bRan = true));
  expect(bRan).toBe(true);
  a.forEach((u) => u.end());
  await Promise.all(runs);
});

test('past the total, waiters of every key are admitted in arrival order', async () => {
  const gate = new ConnectionGate({ perKey: 5, total: 1, maxWaitMs: 0 });
  const first = held();
  const order: string[] = [];
  const running = gate.run('a', first.fn);
  const queued = ['b', 'a', 'c', 'b'].map((key, i) => gate.run(key, async () => void order.push(`${key}${i}`)));
  await tick();
  expect(order).toEqual([]);
  first.end();
  await Promise.all([running, ...queued]);
  expect(order).toEqual(['b0', 'a1', 'c2', 'b3']);
});

test('a unit of work that throws frees its slot', async () => {
  const gate = new ConnectionGate({ perKey: 1, total: 1, maxWaitMs: 0 });
  await expect(gate.run('a', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
  await expect(gate.run('a', async () => 'next')).resolves.toBe('next');
});

test('a wait on the own share past maxWaitMs is RATE_LIMITED with retryAfter, and runs nothing', async () => {
  const gate = new ConnectionGate({ perKey: 1, total: 10, maxWaitMs: 50 });
  const busy = held();
  const running = gate.run('a', busy.fn);
  let ran = false;
  const refused = await gate.run('a', async () => void (ran = true)).catch((e: AppError) => e);
  expect(refused).toBeInstanceOf(AppError);
  expect((refused as AppError).extensions).toEqual({ code: 'RATE_LIMITED', retryAfter: 1 });
  busy.end();
  await running;
  expect(ran).toBe(false);
  await expect(gate.run('a', async () => 'after')).resolves.toBe('after'); // the refused waiter left no trace
});

test('a wait on a busy process past maxWaitMs is SERVICE_UNAVAILABLE with retryAfter', async () => {
  const gate = new ConnectionGate({ perKey: 1, total: 1, maxWaitMs: 50 });
  const busy = held();
  const running = gate.run('a', busy.fn);
  const refused = await gate.run('b', async () => undefined).catch((e: AppError) => e);
  expect((refused as AppError).extensions).toEqual({ code: 'SERVICE_UNAVAILABLE', retryAfter: 1 });
  busy.end();
  await running;
});

test('waiters timing out together are refused one per turn of the event loop, letting other work in between', async () => {
  const gate = new ConnectionGate({ perKey: 1, total: 1, maxWaitMs: 50 });
  const busy = held();
  const running = gate.run('a', busy.fn);
  const events: string[] = [];
  const refused = ['b', 'c', 'd'].map((key) =>
    gate.run(key, async () => undefined).catch(() => {
      events.push(`refused ${key}`);
      setImmediate(() => events.push(`turn after ${key}`));
    }),
  );
  // Hold the event loop past the deadline, so that all three timers fire in the same turn.
  const until = performance.now() + 80;
  while (performance.now() < until);
  await Promise.all(refused);
  await new Promise((resolve) => setTimeout(resolve, 5));
  // Refused all at once, the three refusals would come before any of the turns.
  expect(events.indexOf('turn after b')).toBeLessThan(events.indexOf('refused d'));
  busy.end();
  await running;
});
