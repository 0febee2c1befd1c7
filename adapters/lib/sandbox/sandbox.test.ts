import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AsyncSandbox, NoEntryError, SyncSandbox, type SandboxOptions } from './sandbox.ts';

// Both hosts over real worker threads: values, throws, promises, and the two limits (CPU time,
// heap). After a stop the next call gets a fresh worker with the file loaded again.

const SOURCE = `function decode(i) {
  if (i.op === 'throw') throw new Error('bad byte');
  if (i.op === 'promise') return Promise.resolve(1);
  if (i.op === 'loop') for (;;) {}
  if (i.op === 'flood') { const f = () => Promise.resolve().then(f); f(); }
  if (i.op === 'alloc') { const a = []; for (;;) a.push(new Array(1e5).fill(i.v)); }
  if (i.op === 'block') Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, i.ms);
  return { v: i.v * 2 };
}`;
// Generous by default: only the cases that must be stopped for CPU time get a short limit.
const opts = (o: Partial<SandboxOptions> = {}): SandboxOptions => ({ file: 'probe.js', source: SOURCE, entry: 'decode', timeLimitMs: 30_000, loadLimitMs: 5000, ...o });
const input = (o: Record<string, unknown>) => JSON.stringify(o);

/** Runs `body` against a fresh SyncSandbox, closed afterwards. */
async function withSync(o: Partial<SandboxOptions>, body: (s: SyncSandbox) => void): Promise<void> {
  const s = new SyncSandbox(opts(o));
  try {
    body(s);
  } finally {
    await s.close();
  }
}

describe('SyncSandbox', () => {
  test('returns values, reports throws and promises', async () => {
    await withSync({}, (s) => {
      assert.deepEqual(s.call(input({ v: 21 })), { kind: 'value', json: '{"v":42}' });
      assert.deepEqual(s.call(input({ op: 'throw' })), { kind: 'threw', message: 'bad byte' });
      assert.deepEqual(s.call(input({ op: 'promise' })), { kind: 'promise' });
      assert.equal(s.resets, 0);
    });
  });

  test('an endless loop and a microtask flood are stopped by the CPU limit; a fresh worker serves the next call', async () => {
    await withSync({ timeLimitMs: 100 }, (s) => {
      assert.deepEqual(s.call(input({ op: 'loop' })), { kind: 'stopped', reason: 'time' });
      assert.deepEqual(s.call(input({ op: 'flood' })), { kind: 'stopped', reason: 'time' });
      assert.deepEqual(s.call(input({ v: 1 })), { kind: 'value', json: '{"v":2}' });
      assert.equal(s.resets, 2);
    });
  });

  test('unbounded allocation is stopped by the heap limit, not the (long) CPU limit', async () => {
    await withSync({ memoryMb: 16 }, (s) => {
      assert.deepEqual(s.call(input({ op: 'alloc', v: 1.5 })), { kind: 'stopped', reason: 'memory' });
      assert.deepEqual(s.call(input({ v: 2 })), { kind: 'value', json: '{"v":4}' });
      assert.equal(s.resets, 1);
    });
  });

  test('time spent waiting (not computing) does not count against the CPU limit', async () => {
    // The decoder blocks for 400 ms without using CPU, as one waiting for a core on a loaded host
    // would: a 200 ms wall-clock limit would stop it; the CPU limit does not (wall-clock backstop: 2 s).
    await withSync({ timeLimitMs: 200 }, (s) => {
      assert.deepEqual(s.call(input({ op: 'block', ms: 400, v: 3 })), { kind: 'value', json: '{"v":6}' });
    });
  });

  test('a file that defines no function, does not compile or loops while loading is refused', () => {
    assert.throws(() => new SyncSandbox(opts({ entry: 'typeof nothing === "function" ? nothing : undefined' })), NoEntryError);
    assert.throws(() => new SyncSandbox(opts({ source: 'function (' })), /function name/);
    assert.throws(() => new SyncSandbox(opts({ source: 'for (;;) {}', loadLimitMs: 200 })), /Script execution timed out/);
  });
});

describe('AsyncSandbox', () => {
  test('calls run in order; a loop, a flood and unbounded allocation are stopped; the next call works', async () => {
    const s = new AsyncSandbox(opts({ timeLimitMs: 100 }));
    try {
      await s.load();
      const results = await Promise.all([s.call(input({ v: 1 })), s.call(input({ op: 'loop' })), s.call(input({ op: 'throw' })), s.call(input({ op: 'flood' })), s.call(input({ v: 2 }))]);
      assert.deepEqual(results, [
        { kind: 'value', json: '{"v":2}' },
        { kind: 'stopped', reason: 'time' },
        { kind: 'threw', message: 'bad byte' },
        { kind: 'stopped', reason: 'time' },
        { kind: 'value', json: '{"v":4}' },
      ]);
      assert.equal(s.resets, 2);
    } finally {
      await s.close();
    }
    const m = new AsyncSandbox(opts({ memoryMb: 16 }));
    try {
      assert.deepEqual(await m.call(input({ op: 'alloc', v: 1.5 })), { kind: 'stopped', reason: 'memory' });
      assert.deepEqual(await m.call(input({ v: 5 })), { kind: 'value', json: '{"v":10}' });
    } finally {
      await m.close();
    }
  });

  test('load rejects for a file that defines no function', async () => {
    const s = new AsyncSandbox(opts({ entry: 'undefined' }));
    await assert.rejects(s.load(), NoEntryError);
    await s.close();
  });
});
