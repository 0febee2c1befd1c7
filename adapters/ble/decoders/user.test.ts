import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeAdvert } from './index.ts';
import { loadUserDecoder } from './user.ts';

// User decoders run in a worker, in their own V8 context, with a CPU time limit: a decoder that
// throws, loops, returns a Promise or returns junk gives an error result; the caller keeps running.

const NORDIC = 0x0059;
const ad = (hex: string) => ({ address: 'c0:ff:ee:00:00:01', name: 'probe', serviceData: [], manufacturerData: Buffer.from(hex, 'hex') });
// Generous limits: the machine running the tests may be loaded; only the loop cases wait them out.
const load = (src: string, limit = 5000) => loadUserDecoder({ name: 'probe', file: 'probe.js', manufacturer_id: NORDIC }, limit, src);

describe('user decoders', () => {
  test('module.exports function: reads the bytes, publishes its values under its name', () => {
    const d = load('module.exports = function (input) { return { tempc: ((input.bytes[3] << 8) | input.bytes[2]) / 100, name: input.name, hex: input.manufacturerdata }; };');
    const r = decodeAdvert(ad('5900c409'), { user: [d] });
    assert.deepEqual(r, { ok: true, format: 'probe', values: { tempc: 25, name: 'probe', hex: '5900c409' } });
  });

  test('a top-level function decode(input) works too; null means "not mine"', () => {
    const d = load('function decode(input) { return input.bytes[2] === 1 ? { on: true } : null; }');
    assert.deepEqual(decodeAdvert(ad('590001'), { user: [d] })?.ok, true);
    assert.equal(decodeAdvert(ad('590000'), { user: [d] }), undefined);
  });

  test('by service UUID, before the built-in decoder of that UUID', () => {
    const d = loadUserDecoder({ name: 'mine', file: 'm.js', service_uuid: 'fcd2' }, 5000, 'module.exports = (i) => ({ len: i.bytes.length, uuid: i.servicedatauuid })');
    const r = decodeAdvert({ address: 'c0:ff:ee:00:00:01', serviceData: [{ uuid: 'FCD2', data: Buffer.from('4002c409', 'hex') }] }, { user: [d] });
    assert.deepEqual(r, { ok: true, format: 'mine', values: { len: 4, uuid: 'fcd2' } });
  });

  test('a throwing decoder is reported', () => {
    const r = decodeAdvert(ad('5900'), { user: [load('module.exports = () => { throw new Error("boom at byte 3"); }')] });
    assert.deepEqual(r, { ok: false, format: 'probe', error: 'user decoder "probe" threw: boom at byte 3' });
  });

  test('an endless loop is stopped at the time limit and reported as a timeout', () => {
    const src = 'module.exports = (i) => { if (i.bytes[2] === 0xff) for (;;) {} return { v: i.bytes[2] }; }';
    const r = decodeAdvert(ad('5900ff'), { user: [load(src, 100)] });
    assert.equal(r?.ok, false);
    assert.match((r as { error: string }).error, /did not return within 100 ms/);
    assert.equal((r as { timedOut?: boolean }).timedOut, true);
    // The successful call on its own instance with a generous limit: no wall-clock bet.
    assert.deepEqual(decodeAdvert(ad('590007'), { user: [load(src)] }), { ok: true, format: 'probe', values: { v: 7 } });
  });

  test('a promise / microtask flood is stopped at the time limit and the event loop stays alive', async () => {
    const d = load('module.exports = () => { const again = () => Promise.resolve().then(again); again(); return { a: 1 }; }', 100);
    try {
      const r = decodeAdvert(ad('5900'), { user: [d] });
      assert.equal(r?.ok, false);
      assert.match((r as { error: string }).error, /did not return within 100 ms/);
      assert.equal((r as { timedOut?: boolean }).timedOut, true);
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      await d.close();
    }
  });

  test('a decoder that allocates without bound is stopped by the heap limit of its worker; the next call works', async () => {
    // A CPU limit long enough that only the heap limit can stop it in time.
    const d = load('module.exports = (i) => { if (i.bytes[2] === 0xff) { const a = []; for (;;) a.push(new Array(1e5).fill(1.5)); } return { v: i.bytes[2] }; }', 60_000);
    try {
      const r = decodeAdvert(ad('5900ff'), { user: [d] });
      assert.deepEqual(r, { ok: false, format: 'probe', error: 'user decoder "probe" went over its 32 MB memory limit', timedOut: true });
      assert.deepEqual(decodeAdvert(ad('590007'), { user: [d] }), { ok: true, format: 'probe', values: { v: 7 } });
    } finally {
      await d.close();
    }
  });

  test('a Promise, an array, a nested object or NaN are refused', () => {
    for (const [src, re] of [
      ['module.exports = async () => ({ a: 1 })', /returned a Promise/],
      ['module.exports = () => [1, 2]', /returned an array/],
      ['module.exports = () => ({ a: { b: 1 } })', /value "a" is object/],
      ['module.exports = () => ({ a: NaN })', /value "a" is null/],
      ['module.exports = () => 42', /returned number/],
    ] as const) {
      const r = decodeAdvert(ad('5900'), { user: [load(src)] });
      assert.equal(r?.ok, false, src);
      assert.match((r as { error: string }).error, re, src);
    }
  });

  test('a file that does not compile, defines no function, or loops while loading fails to load with its name', () => {
    assert.throws(() => load('module.exports = function ('), /user decoder "probe" \(probe\.js\) failed to load: .*SyntaxError|failed to load/);
    assert.throws(() => load('const x = 1;'), /defines no function/);
    assert.throws(() => load('for (;;) {}', 200), /failed to load: Script execution timed out/);
    assert.throws(() => loadUserDecoder({ name: 'x', file: '/nonexistent/decoder.js', manufacturer_id: 1 }, 5000), /cannot read \/nonexistent\/decoder\.js/);
  });

  test('the decoder sees no Node.js globals', () => {
    const r = decodeAdvert(ad('5900'), { user: [load('module.exports = () => ({ process: typeof process, require: typeof require, eval: (() => { try { return eval("1"); } catch (e) { return "blocked"; } })() })')] });
    assert.deepEqual(r, { ok: true, format: 'probe', values: { process: 'undefined', require: 'undefined', eval: 'blocked' } });
  });
});
