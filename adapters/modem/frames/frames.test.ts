import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { aesCmac } from './cmac.ts';
import { CounterStore } from './counters.ts';
import { DecoderSet } from './decoders.ts';
import { decodeLpp } from './lpp.ts';
import { encodeFrame, micValid, parseFrame } from './node-frame.ts';
import { ScriptDecoder } from './script-decoder.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s/g, ''), 'hex');

describe('AES-CMAC', () => {
  // RFC 4493 section 4, examples 1-4.
  const K = hex('2b7e1516 28aed2a6 abf71588 09cf4f3c');
  const M = hex('6bc1bee2 2e409f96 e93d7e11 7393172a ae2d8a57 1e03ac9c 9eb76fac 45af8e51 30c81c46 a35ce411 e5fbc119 1a0a52ef f69f2445 df4f9b17 ad2b417b e66c3710');
  for (const [len, tag] of [
    [0, 'bb1d6929 e9593728 7fa37d12 9b756746'],
    [16, '070a16b4 6b4d4144 f79bdd9d d04a287c'],
    [40, 'dfa66747 de9ae630 30ca3261 1497c827'],
    [64, '51f0bebf 7e3b9d92 fc497417 79363cfe'],
  ] as const) {
    test(`RFC 4493 example, ${len}-byte message`, () => assert.equal(aesCmac(K, M.subarray(0, len)).toString('hex'), hex(tag).toString('hex')));
  }
});

describe('fieldgate node frame', () => {
  const key = hex('000102030405060708090a0b0c0d0e0f');
  test('round trip and MIC check', () => {
    const buf = encodeFrame(key, { nodeId: 0x2a, counter: 7, port: 1, payload: Buffer.from('hi') });
    assert.equal(buf.length, 10 + 2 + 4);
    const p = parseFrame(buf);
    assert.ok(p.ok);
    assert.equal(p.frame.nodeId, 0x2a);
    assert.equal(p.frame.counter, 7);
    assert.equal(p.frame.port, 1);
    assert.equal(p.frame.payload.toString(), 'hi');
    assert.ok(micValid(key, p.frame));
    const bad = Buffer.from(buf);
    bad[11] = (bad[11] as number) ^ 1;
    const q = parseFrame(bad);
    assert.ok(q.ok && !micValid(key, q.frame));
    const other = parseFrame(buf);
    assert.ok(other.ok && !micValid(hex('ff'.repeat(16)), other.frame));
  });
  test('malformed frames are named', () => {
    assert.deepEqual(parseFrame(Buffer.alloc(5)), { ok: false, reason: 'too_short' });
    assert.deepEqual(parseFrame(Buffer.alloc(20, 2)), { ok: false, reason: 'bad_version' });
  });
  test('counters: fresh, duplicate, replay; persisted across restarts', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fg-ctr-'));
    try {
      const file = join(dir, 'c.json');
      const c = new CounterStore(file);
      assert.equal(c.check(1, 5), 'ok');
      c.accept(1, 5);
      assert.equal(c.check(1, 5), 'duplicate');
      assert.equal(c.check(1, 4), 'replay');
      assert.equal(c.check(1, 6), 'ok');
      c.save();
      assert.equal(new CounterStore(file).check(1, 5), 'duplicate');
      writeFileSync(file, '{oops');
      assert.throws(() => new CounterStore(file), /not JSON/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('payload decoders', () => {
  test('Cayenne LPP: the spec example values', () => {
    // LPP documentation examples: two temperatures; accelerometer; GPS.
    assert.deepEqual(decodeLpp(hex('03 67 01 10 05 67 00 FF')), { temperature_3: 27.2, temperature_5: 25.5 });
    assert.deepEqual(decodeLpp(hex('06 71 04 D2 FB 2E 00 00')), { accelerometer_6: { x: 1.234, y: -1.234, z: 0 } });
    assert.deepEqual(decodeLpp(hex('01 88 06 76 5f f2 96 0a 00 03 e8')), { gps_1: { latitude: 42.3519, longitude: -87.9094, altitude: 10 } });
    assert.throws(() => decodeLpp(hex('01 67 01')), /needs 2 bytes/);
    assert.throws(() => decodeLpp(hex('01 fe 01')), /unknown type 254/);
  });
  test('hex, json, lpp errors become an error field', async () => {
    const set = new DecoderSet();
    assert.deepEqual(await set.get('hex').decode(hex('0aff'), 1), { decoded: '0aff' });
    assert.deepEqual(await set.get('json').decode(Buffer.from('{"t":1}'), 1), { decoded: { t: 1 } });
    assert.ok('error' in (await set.get('json').decode(Buffer.from('{'), 1)));
    assert.ok('error' in (await set.get('lpp').decode(hex('01'), 1)));
  });
  test('script decoders (worker with CPU and heap limits): result, throw, endless loop, endless promise loop, allocation, bad files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fg-dec-'));
    const set = new DecoderSet();
    const makeDecoder = (s: { script: string; timeout: number }) => set.get(s);
    try {
      const file = (name: string, src: string) => {
        const f = join(dir, name);
        writeFileSync(f, src);
        // Generous by default: the limit is CPU time, but a call also ends after 10x the limit of
        // wall-clock time; only the decoders that must time out get the short limit.
        return { script: f, timeout: 5000 };
      };
      const err = async (d: { decode(p: Buffer, n: number): unknown }, p = 1) => ((await d.decode(hex('00'), p)) as { error: string }).error;
      const good = makeDecoder(file('good.js', 'function decodeUplink(input) { return { data: { level: input.bytes[0] * 2, port: input.fPort } }; }'));
      assert.deepEqual(await good.decode(hex('15'), 3), { decoded: { level: 42, port: 3 } });
      assert.match(await err(makeDecoder(file('throw.js', 'function decodeUplink() { throw new Error("bad byte"); }'))), /bad byte/);
      const loops = makeDecoder({ ...file('loop.js', 'function decodeUplink() { for (;;) {} }'), timeout: 50 });
      assert.match(await err(loops), /timed out after 50 ms/);
      assert.match(await err(loops), /timed out after 50 ms/, 'a fresh worker, and it loops again');
      // A promise flood after returning: run inside the limit (the worker's own microtask queue would
      // otherwise keep a core busy until the next frame), so it is a timeout and the worker is replaced.
      const ploops = new ScriptDecoder(file('ploop.js', 'function decodeUplink() { const f = () => Promise.resolve().then(f); f(); return { data: 1 }; }').script, 50);
      try {
        assert.match(await err(ploops), /timed out after 50 ms/);
        assert.equal(ploops.resets, 1, 'the flooded worker was terminated');
        assert.match(await err(ploops), /timed out after 50 ms/, 'a fresh worker, flooded again');
        assert.equal(ploops.resets, 2);
      } finally {
        await ploops.close();
      }
      assert.match(await err(makeDecoder(file('hog.js', 'function decodeUplink() { const a = []; for (;;) a.push(new Array(1e5).fill(1.5)); }'))), /went over its 32 MB memory limit/);
      assert.match(await err(makeDecoder(file('errs.js', 'function decodeUplink() { return { errors: ["unknown port"] }; }')), 9), /unknown port/);
      assert.deepEqual(await good.decode(hex('01'), 1), { decoded: { level: 2, port: 1 } }, 'still works after the others failed');
      await assert.rejects(makeDecoder(file('none.js', 'var x = 1;')).load?.() ?? Promise.resolve(), /does not define function decodeUplink/);
      assert.throws(() => makeDecoder(file('syntax.js', 'function (')), /does not compile/);
      assert.throws(() => makeDecoder({ script: join(dir, 'missing.js'), timeout: 50 }), /missing\.js/);
    } finally {
      await set.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
