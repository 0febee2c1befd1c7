import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  AckCode,
  FrameError,
  V1,
  V2,
  decodeAck,
  decodeConnack,
  decodeConnect,
  decodeData,
  encodeAck,
  encodeConnack,
  encodeConnect,
  encodeData,
  type RawFrame,
} from './codec.ts';
import { FrameParser } from './parser.ts';
import { hex, rng } from './test-kit.ts';

function parseAll(bytes: Buffer, opts?: ConstructorParameters<typeof FrameParser>[0], split?: number[]): { frames: RawFrame[]; error?: FrameError } {
  const p = new FrameParser(opts);
  const frames: RawFrame[] = [];
  let at = 0;
  let error: FrameError | undefined;
  for (const cut of [...(split ?? []), bytes.length]) {
    error = p.push(bytes.subarray(at, cut), (f) => void frames.push(f)) ?? error;
    at = cut;
  }
  return { frames, error };
}

describe('EMQX private TCP v1 vectors (emqx-docs release-4.4 zh_CN/modules/tcp_protocol.md)', () => {
  test('CONNECT keepalive 60, clientid abcd', () => {
    const wire = hex('11 00 07 3c 00 04 61 62 63 64');
    assert.deepEqual(encodeConnect({ keepalive: 60, clientid: 'abcd' }), wire);
    const { frames } = parseAll(wire);
    assert.equal(frames.length, 1);
    assert.deepEqual({ ...decodeConnect(V1, frames[0]!.payload) }, { version: 1, keepalive: 60, resume: false, clientid: 'abcd', username: undefined, password: undefined });
  });

  test('CONNECT with username and password abcd', () => {
    const wire = hex('11 00 13 3c 00 04 61 62 63 64 00 04 61 62 63 64 00 04 61 62 63 64');
    assert.deepEqual(encodeConnect({ keepalive: 60, clientid: 'abcd', username: 'abcd', password: 'abcd' }), wire);
    const c = decodeConnect(V1, parseAll(wire).frames[0]!.payload);
    assert.equal(c.username, 'abcd');
    assert.deepEqual(c.password, Buffer.from('abcd'));
  });

  test('CONNACK success and auth failure', () => {
    assert.deepEqual(encodeConnack(0), hex('20 00 14 43 6f 6e 6e 65 63 74 20 53 75 63 63 65 73 73 66 75 6c 6c 79'));
    assert.deepEqual(encodeConnack(1, ''), hex('21 00 00'));
    const { frames } = parseAll(encodeConnack(1), { role: 'client' });
    assert.deepEqual(decodeConnack(V1, frames[0]!), { code: 1, sessionPresent: false, message: 'Authentication Failure' });
  });

  test('DATATRANS abcd (the doc misprints the last byte as 63)', () => {
    const wire = hex('30 00 04 61 62 63 64');
    assert.deepEqual(encodeData(Buffer.from('abcd')), wire);
    const d = decodeData(V1, parseAll(wire).frames[0]!);
    assert.deepEqual(d, { qos: 0, dup: false, data: Buffer.from('abcd') });
  });

  test('PING, PONG and DISCONNECT are single bytes', () => {
    const { frames } = parseAll(hex('40 60'));
    assert.deepEqual(frames.map((f) => [f.type, f.payload.length]), [[4, 0], [6, 0]]);
    assert.deepEqual(parseAll(hex('50'), { role: 'client' }).frames.map((f) => f.type), [5]);
  });
});

describe('v2 frames', () => {
  test('CONNECT v2 adds one flags byte after keepalive', () => {
    const wire = encodeConnect({ version: V2, keepalive: 30, resume: true, clientid: 'd1' });
    assert.deepEqual(wire, hex('12 00 06 1e 01 00 02 64 31'));
    assert.equal(decodeConnect(V2, parseAll(wire).frames[0]!.payload).resume, true);
  });

  test('CONNACK v2 carries session-present before the message', () => {
    const wire = encodeConnack(0, undefined, true);
    assert.deepEqual(wire.subarray(0, 4), hex('20 00 15 01'));
    assert.deepEqual(decodeConnack(V2, parseAll(wire, { role: 'client' }).frames[0]!), { code: 0, sessionPresent: true, message: 'Connect Successfully' });
  });

  test('DATATRANS QoS 1 carries a message id; DUP is bit 1; ACK echoes the id with a code', () => {
    assert.deepEqual(encodeData(Buffer.from('hi'), { id: 0x0102 }), hex('34 00 04 01 02 68 69'));
    assert.deepEqual(encodeData(Buffer.from('hi'), { id: 0x0102, dup: true }), hex('36 00 04 01 02 68 69'));
    const d = decodeData(V2, parseAll(hex('36 00 04 01 02 68 69')).frames[0]!);
    assert.deepEqual(d, { qos: 1, dup: true, id: 0x0102, data: Buffer.from('hi') });
    assert.deepEqual(encodeAck(0x0102), hex('70 00 02 01 02'));
    assert.deepEqual(encodeAck(7, AckCode.NOT_AUTHORIZED), hex('71 00 02 00 07'));
    assert.deepEqual(decodeAck(parseAll(hex('73 00 02 ff ff')).frames[0]!), { id: 0xffff, code: 3 });
  });

  test('QoS bits are refused in a v1 session', () => {
    assert.throws(() => decodeData(V1, parseAll(hex('34 00 03 00 01 61')).frames[0]!), (e: FrameError) => e.reason === 'parse_error');
    assert.throws(() => decodeData(V2, parseAll(hex('38 00 03 00 01 61')).frames[0]!), /QoS 2/);
    assert.throws(() => decodeData(V2, parseAll(hex('34 00 01 00')).frames[0]!), /no message id/);
  });
});

describe('streaming parser', () => {
  const stream = Buffer.concat([
    encodeConnect({ keepalive: 60, clientid: 'abcd', username: 'u', password: 'p' }),
    encodeData(Buffer.from('one')),
    hex('40'),
    encodeData(Buffer.alloc(1000, 7)),
    encodeData(Buffer.alloc(0)),
    hex('60'),
  ]);
  const whole = parseAll(stream).frames;

  test('coalesced frames in one chunk', () => {
    assert.deepEqual(whole.map((f) => f.type), [1, 3, 4, 3, 3, 6]);
    assert.equal(whole[3]!.payload.length, 1000);
  });

  test('every single split point, and byte-by-byte, give the same frames', () => {
    for (let cut = 1; cut < stream.length; cut++) assert.deepEqual(parseAll(stream, {}, [cut]).frames, whole, `split at ${cut}`);
    const bytewise = parseAll(stream, {}, Array.from({ length: stream.length - 1 }, (_, i) => i + 1));
    assert.deepEqual(bytewise.frames, whole);
  });

  test('payloads are copies: a frame does not pin the chunk it came in', () => {
    const chunk = Buffer.concat([encodeData(Buffer.from('abc')), Buffer.alloc(60_000)]);
    const p = new FrameParser();
    let got: RawFrame | undefined;
    p.push(chunk.subarray(0, 6), (f) => void (got = f));
    assert.notEqual(got?.payload.buffer, chunk.buffer);
  });

  test('a consumer can stop mid-chunk; the rest is held until resume()', () => {
    const pings = Buffer.alloc(1000, 0x40);
    const p = new FrameParser();
    let n = 0;
    const take = (limit: number) => () => ++n % limit !== 0;
    p.push(pings, take(100));
    assert.equal(n, 100);
    assert.equal(p.blocked, true);
    assert.equal(p.buffered, 900);
    while (p.blocked) p.resume(take(100));
    assert.equal(n, 1000);
    assert.equal(p.buffered, 0);
  });

  test('a declared length over max_packet_size fails before buffering', () => {
    const p = new FrameParser({ maxPayload: 100 });
    const err = p.push(hex('30 00 65'), () => assert.fail('no frame expected'));
    assert.equal(err?.reason, 'frame_too_large');
    assert.equal(p.buffered, 0);
    assert.equal(p.push(hex('30 00 01 61'), () => assert.fail('stays failed'))?.reason, 'frame_too_large');
  });

  test('garbage: unknown types, server-only types from a device, flags on 1-byte frames', () => {
    for (const bad of ['00', '80 00 00', 'f0', '20 00 00', '50', '41', '61']) {
      const { frames, error } = parseAll(hex(bad));
      assert.equal(frames.length, 0, bad);
      assert.equal(error?.reason, 'parse_error', bad);
    }
  });

  test('frames before the bad byte are still delivered', () => {
    const { frames, error } = parseAll(Buffer.concat([encodeData(Buffer.from('ok')), hex('ff')]));
    assert.equal(frames.length, 1);
    assert.equal(error?.reason, 'parse_error');
  });

  test('malformed CONNECT bodies are parse errors, never exceptions of another kind', () => {
    for (const body of ['', '3c', '3c 00', '3c 00 05 61', '3c 00 01 61 00', '3c 00 01 61 00 01 62 00 01 63 ff', '3c 00 02 c3 28']) {
      assert.throws(() => decodeConnect(V1, hex(body)), (e: unknown) => e instanceof FrameError && e.reason === 'parse_error', body);
    }
    assert.throws(() => decodeConnect(V2, hex('3c 02 00 01 61')), /reserved connect flags/);
  });
});

describe('parser fuzz (seeded)', () => {
  const ITER = Number(process.env.FIELDGATE_FUZZ_ITER ?? 20_000);
  const MAX = 512;
  const valid = [
    encodeConnect({ keepalive: 10, clientid: 'dev' }),
    encodeConnect({ version: V2, keepalive: 10, clientid: 'dev', username: 'u', password: 'p' }),
    encodeData(Buffer.from('payload')),
    encodeData(Buffer.from('x'), { id: 9 }),
    encodeAck(3),
    hex('40'),
    hex('60'),
  ];

  test(`${ITER} random and mutated streams: no throw, bounded buffer, split-invariant`, () => {
    const rand = rng(0xf1e1d6a7);
    const int = (n: number) => Math.floor(rand() * n);
    for (let it = 0; it < ITER; it++) {
      let bytes: Buffer;
      if (it % 2 === 0) {
        bytes = Buffer.from(Array.from({ length: int(64) }, () => int(256)));
      } else {
        bytes = Buffer.concat(Array.from({ length: 1 + int(6) }, () => valid[int(valid.length)]!));
        for (let m = int(4); m > 0; m--) bytes[int(bytes.length)] = int(256);
        if (rand() < 0.2) bytes = bytes.subarray(0, int(bytes.length));
      }
      const cuts = Array.from({ length: int(5) }, () => int(bytes.length + 1)).sort((a, b) => a - b);
      const p = new FrameParser({ maxPayload: MAX });
      const frames: RawFrame[] = [];
      let at = 0;
      let error: FrameError | undefined;
      for (const cut of [...cuts, bytes.length]) {
        error = p.push(bytes.subarray(at, cut), (f) => void frames.push(f)) ?? error;
        assert.ok(p.buffered <= MAX, `seed iteration ${it}: buffered ${p.buffered}`);
        at = cut;
      }
      const once = parseAll(bytes, { maxPayload: MAX });
      assert.deepEqual(frames, once.frames, `iteration ${it}: split changed the frames`);
      assert.equal(error?.reason, once.error?.reason, `iteration ${it}`);
      // Decoders on whatever came out: only FrameError may escape.
      for (const f of frames) {
        for (const v of [V1, V2]) {
          try {
            if (f.type === 1) decodeConnect(v, f.payload);
            if (f.type === 3) decodeData(v, f);
            if (f.type === 7) decodeAck(f);
          } catch (e) {
            assert.ok(e instanceof FrameError, `iteration ${it}: ${(e as Error).stack}`);
          }
        }
      }
    }
  });
});
