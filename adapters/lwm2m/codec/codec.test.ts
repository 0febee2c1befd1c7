// Content-format codecs against byte fixtures from the LwM2M TS and EMQX's suite, malformed
// payloads, and seeded fuzzing (any input either decodes or throws CodecError, never anything else).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encode as cborEncode } from 'cbor2';
import { rng } from '../../../gateway/test/random.ts';
import { builtinModel } from '../objects/index.ts';
import { CF, UnsupportedFormat, decodeContent, decodeDiscover, encodeWrite } from './content.ts';
import { parseLinks } from './link.ts';
import { encodeTlv, parseTlv } from './tlv.ts';
import { CodecError, valueToBytes } from './values.ts';

const model = builtinModel();
const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// OMA-TS-LightweightM2M-V1_0 6.4.3.1, "Read on Object Instance" of the Device object (/3/0).
const DEVICE_TLV = hex(`
  C8 00 14 4F 70 65 6E 20 4D 6F 62 69 6C 65 20 41 6C 6C 69 61 6E 63 65
  C8 01 16 4C 69 67 68 74 77 65 69 67 68 74 20 4D 32 4D 20 43 6C 69 65 6E 74
  C8 02 09 33 34 35 30 30 30 31 32 33
  C3 03 31 2E 30
  86 06 41 00 01 41 01 05
  88 07 08 42 00 0E D8 42 01 13 88
  87 08 41 00 7D 42 01 03 84
  C1 09 64
  C1 0A 0F
  83 0B 41 00 00
  C4 0D 51 82 42 8F
  C6 0E 2B 30 32 3A 30 30
  C1 10 55`);

describe('TLV', () => {
  test('the TS Device object example decodes to typed values', () => {
    const got = decodeContent(CF.TLV, DEVICE_TLV, [3, 0], model);
    assert.deepEqual(got, [
      { path: '/3/0/0', value: 'Open Mobile Alliance' },
      { path: '/3/0/1', value: 'Lightweight M2M Client' },
      { path: '/3/0/2', value: '345000123' },
      { path: '/3/0/3', value: '1.0' },
      { path: '/3/0/6/0', value: 1 },
      { path: '/3/0/6/1', value: 5 },
      { path: '/3/0/7/0', value: 3800 },
      { path: '/3/0/7/1', value: 5000 },
      { path: '/3/0/8/0', value: 125 },
      { path: '/3/0/8/1', value: 900 },
      { path: '/3/0/9', value: 100 },
      { path: '/3/0/10', value: 15 },
      { path: '/3/0/11/0', value: 0 },
      { path: '/3/0/13', value: 1367491215 },
      { path: '/3/0/14', value: '+02:00' },
      { path: '/3/0/16', value: 'U' },
    ]);
  });

  test('object-level read with instance wrappers, and a multiple resource read by its own path', () => {
    const wrapped = Buffer.concat([hex('08 00'), Buffer.from([DEVICE_TLV.length]), DEVICE_TLV]);
    assert.equal(wrapped[0], 0x08);
    const got = decodeContent(CF.TLV, Buffer.concat([hex('08 00 0E'), hex('C1 09 64'), hex('C6 0E 2B 30 32 3A 30 30'), hex('C1 10 55')]), [3], model);
    assert.deepEqual(got.map((p) => p.path), ['/3/0/9', '/3/0/14', '/3/0/16']);
    assert.deepEqual(decodeContent(CF.TLV, hex('86 06 41 00 01 41 01 05'), [3, 0, 6], model), [{ path: '/3/0/6/0', value: 1 }, { path: '/3/0/6/1', value: 5 }]);
    assert.deepEqual(decodeContent(CF.TLV, hex('C1 09 64'), [3, 0, 9], model), [{ path: '/3/0/9', value: 100 }]);
  });

  test("EMQX's write fixture: Integer 12345 to /3/0/13 is <<3:2,0:1,0:2,2:3,13,12345:16>>", () => {
    const { payload, format } = encodeWrite('tlv', [3, 0, 13], [{ path: [3, 0, 13], type: 'Integer', value: '12345' }]);
    assert.equal(format, 11542);
    assert.deepEqual(payload, hex('C2 0D 30 39'));
  });

  test('batch writes nest multiple resources; create wraps an object instance; 16-bit ids and long values', () => {
    const batch = encodeTlv([3, 0], [
      { path: [3, 0, 14], value: Buffer.from('+01:00') },
      { path: [3, 0, 6, 0], value: Buffer.from([1]) },
      { path: [3, 0, 6, 1], value: Buffer.from([5]) },
    ]);
    assert.deepEqual(batch, hex('C6 0E 2B 30 31 3A 30 30 86 06 41 00 01 41 01 05'));
    const create = encodeTlv([3303], [{ path: [3303, 1, 5700], value: valueToBytes('Float', 21.5, 'x') }]);
    assert.deepEqual(create, hex('07 01 E4 16 44 41 AC 00 00'));
    const long = encodeTlv([3, 0, 0], [{ path: [3, 0, 0], value: Buffer.alloc(300, 0x41) }]);
    assert.deepEqual(long.subarray(0, 4), hex('D0 00 01 2C'));
    assert.deepEqual(parseTlv(long)[0]?.value?.length, 300);
  });

  test('value encodings: minimal integers, floats, booleans, objlnk, opaque hex, bad values rejected', () => {
    assert.deepEqual(valueToBytes('Integer', -1, 'x'), hex('FF'));
    assert.deepEqual(valueToBytes('Integer', 128, 'x'), hex('00 80'));
    assert.deepEqual(valueToBytes('Integer', 2 ** 31, 'x'), hex('00 00 00 00 80 00 00 00'));
    assert.deepEqual(valueToBytes('Float', 0.1, 'x'), hex('3F B9 99 99 99 99 99 9A'));
    assert.deepEqual(valueToBytes('Boolean', 'true', 'x'), hex('01'));
    assert.deepEqual(valueToBytes('Objlnk', '3:0', 'x'), hex('00 03 00 00'));
    assert.deepEqual(valueToBytes('Opaque', 'c0ffee', 'x', true), hex('C0 FF EE'));
    for (const [t, v] of [['Integer', '1.5'], ['Integer', 'ten'], ['Boolean', 'yes'], ['Objlnk', '3'], ['Float', 'NaN'], ['Integer', 2 ** 64]] as const) {
      assert.throws(() => valueToBytes(t, v, '/1/0/1'), CodecError, `${t} ${v}`);
    }
    assert.throws(() => valueToBytes('Opaque', 'zz', 'x', true), /not hex/);
  });

  test('malformed TLV: truncated header, length past the end, illegal nesting, wrong id for the path', () => {
    for (const bad of ['C8 00 14 4F', 'C8', 'E8 00', '08 00 03 41 00 01', '86 06 C1 00 01', 'C1 09 64 C1']) {
      assert.throws(() => decodeContent(CF.TLV, hex(bad), [3, 0], model), CodecError, bad);
    }
    assert.throws(() => decodeContent(CF.TLV, hex('C1 09 64'), [3, 0, 10], model), /does not belong/);
    assert.throws(() => decodeContent(CF.TLV, hex('E2 16 44 00 01'), [3303, 0, 5700], model), /Float must be 4 or 8 bytes/);
    assert.throws(() => decodeContent(CF.TLV, hex('E1 16 DA 02'), [3306, 0, 5850], model), /Boolean/);
  });
});

describe('text/plain, opaque, JSON formats', () => {
  test('text/plain is typed by the definition; opaque is base64', () => {
    assert.deepEqual(decodeContent(CF.TEXT, Buffer.from('4096'), [3, 0, 10], model), [{ path: '/3/0/10', value: 4096 }]);
    assert.deepEqual(decodeContent(CF.TEXT, Buffer.from('21.5'), [3303, 0, 5700], model), [{ path: '/3303/0/5700', value: 21.5 }]);
    assert.deepEqual(decodeContent(CF.TEXT, Buffer.from('1'), [3306, 0, 5850], model), [{ path: '/3306/0/5850', value: true }]);
    assert.deepEqual(decodeContent(undefined, Buffer.from('Lightweight M2M Client'), [3, 0, 1], model), [{ path: '/3/0/1', value: 'Lightweight M2M Client' }]);
    assert.deepEqual(decodeContent(CF.TEXT, Buffer.from('anything'), [31024, 0, 1], model), [{ path: '/31024/0/1', value: 'anything' }]);
    assert.deepEqual(decodeContent(CF.OPAQUE, hex('00 FF'), [5, 0, 0], model), [{ path: '/5/0/0', value: 'AP8=' }]);
    assert.throws(() => decodeContent(CF.TEXT, Buffer.from('12x'), [3, 0, 9], model), CodecError);
    assert.throws(() => decodeContent(CF.TEXT, Buffer.from('x'), [3, 0], model), CodecError);
    assert.throws(() => decodeContent(999, Buffer.from('x'), [3, 0, 0], model), UnsupportedFormat);
  });

  test('LwM2M JSON (11543), the TS example', () => {
    const doc = { bn: '/3/0/', e: [{ n: '0', sv: 'Open Mobile Alliance' }, { n: '6/0', v: 1 }, { n: '9', v: 100 }, { n: '13', v: 1367491215 }, { n: '16', sv: 'U' }] };
    assert.deepEqual(decodeContent(CF.LWM2M_JSON, Buffer.from(JSON.stringify(doc)), [3, 0], model), [
      { path: '/3/0/0', value: 'Open Mobile Alliance' }, { path: '/3/0/6/0', value: 1 }, { path: '/3/0/9', value: 100 }, { path: '/3/0/13', value: 1367491215 }, { path: '/3/0/16', value: 'U' },
    ]);
    for (const bad of ['{', '[]', '{"e":[{"n":"1"}]}', '{"bn":3,"e":[]}', '{"e":[{"n":1,"v":1}]}']) assert.throws(() => decodeContent(CF.LWM2M_JSON, Buffer.from(bad), [3, 0], model), CodecError, bad);
  });

  test('SenML JSON (110) and SenML CBOR (112): base names, every value kind', () => {
    const recs = [{ bn: '/3303/0/', n: '5700', v: 21.5 }, { n: '5701', vs: 'Cel' }, { bn: '/3306/0/', n: '5850', vb: true }, { n: '5750', vs: 'x' }, { bn: '/5/0/', n: '0', vd: 'AP8' }, { bn: '/1/0/', n: '10', vlo: '3:0' }];
    const expected = [
      { path: '/3303/0/5700', value: 21.5 }, { path: '/3303/0/5701', value: 'Cel' }, { path: '/3306/0/5850', value: true }, { path: '/3306/0/5750', value: 'x' }, { path: '/5/0/0', value: 'AP8=' }, { path: '/1/0/10', value: '3:0' },
    ];
    assert.deepEqual(decodeContent(CF.SENML_JSON, Buffer.from(JSON.stringify(recs)), [], model), expected);
    const labels: Record<string, number | string> = { bn: -2, n: 0, v: 2, vs: 3, vb: 4, vd: 8, vlo: 'vlo' };
    const cbor = cborEncode(recs.map((r) => new Map(Object.entries(r).map(([k, v]) => [labels[k]!, k === 'vd' ? new Uint8Array(Buffer.from(v as string, 'base64url')) : v]))));
    assert.deepEqual(decodeContent(CF.SENML_CBOR, Buffer.from(cbor), [], model), expected);
    // Round trip of our own SenML writers.
    const w = encodeWrite('senml-cbor', [3, 0], [{ path: [3, 0, 13], type: 'Time', value: 5 }, { path: [3, 0, 14], type: 'String', value: '+01:00' }]);
    assert.equal(w.format, 112);
    assert.deepEqual(decodeContent(w.format, w.payload, [3, 0], model), [{ path: '/3/0/13', value: 5 }, { path: '/3/0/14', value: '+01:00' }]);
    const j = encodeWrite('senml-json', [5, 0, 0], [{ path: [5, 0, 0], type: 'Opaque', value: 'c0ffee' }], true);
    assert.deepEqual(JSON.parse(j.payload.toString()), [{ bn: '/5/0/0', n: '', vd: 'wP_u' }]);
    for (const bad of ['{}', '[1]', '[{"n":"x","v":"1"}]', '[{"bn":"/3/0/","n":"0","vb":1}]', '[{"n":"/3/0/9","v":1}']) assert.throws(() => decodeContent(CF.SENML_JSON, Buffer.from(bad), [], model), CodecError, bad);
    assert.throws(() => decodeContent(CF.SENML_CBOR, hex('ff'), [], model), CodecError);
    assert.throws(() => decodeContent(CF.SENML_CBOR, hex('a0'), [], model), CodecError);
  });
});

describe('link format', () => {
  test('register payload, attributes, quoted commas, discover strings', () => {
    const links = parseLinks('</>;rt="oma.lwm2m";ct=11543, </1/0>,</3/0>;ver="1.1", </3303/0>;title="a, b"');
    assert.deepEqual(links.map((l) => l.uri), ['/', '/1/0', '/3/0', '/3303/0']);
    assert.deepEqual(links[0]?.attrs, { rt: 'oma.lwm2m', ct: '11543' });
    assert.equal(links[3]?.attrs.title, 'a, b');
    assert.deepEqual(decodeDiscover(Buffer.from('</3/0>;pmin=10,</3/0/0>,</3/0/1>, </3/0/2>')), ['</3/0>;pmin=10', '</3/0/0>', '</3/0/1>', '</3/0/2>']);
    assert.deepEqual(parseLinks(''), []);
    for (const bad of ['/3/0', '</3/0>;title="x', 'garbage']) assert.throws(() => parseLinks(bad), CodecError, bad);
  });
});

describe('seeded fuzz', () => {
  const formats = [CF.TEXT, CF.OPAQUE, CF.TLV, CF.LWM2M_JSON, CF.SENML_JSON, CF.SENML_CBOR];
  const paths: number[][] = [[], [3], [3, 0], [3, 0, 6], [3, 0, 9], [3303, 0, 5700]];
  const seeds = [1, 2, 3, 42, 1234];
  test('random bytes and mutated valid payloads either decode or throw CodecError', () => {
    for (const seed of seeds) {
      const r = rng(seed);
      for (let i = 0; i < 600; i++) {
        let buf: Buffer;
        if (i % 2 === 0) {
          buf = Buffer.from(Array.from({ length: Math.floor(r() * 40) }, () => Math.floor(r() * 256)));
        } else {
          buf = Buffer.from(DEVICE_TLV);
          for (let k = 0; k < 1 + Math.floor(r() * 4); k++) buf[Math.floor(r() * buf.length)] = Math.floor(r() * 256);
          if (r() < 0.3) buf = buf.subarray(0, Math.floor(r() * buf.length));
        }
        const fmt = formats[Math.floor(r() * formats.length)]!;
        const path = paths[Math.floor(r() * paths.length)]!;
        try {
          const out = decodeContent(fmt, buf, path, model);
          for (const pv of out) assert.ok(typeof pv.path === 'string' && pv.value !== undefined);
          JSON.stringify(out);
        } catch (err) {
          assert.ok(err instanceof CodecError, `seed ${seed} case ${i} format ${fmt}: ${(err as Error).stack}`);
        }
        try {
          parseLinks(buf.toString('latin1'));
        } catch (err) {
          assert.ok(err instanceof CodecError, `seed ${seed} case ${i} link-format: ${(err as Error).message}`);
        }
      }
    }
  });
});

test('SenML integers beyond 2^53 stay exact (decimal text, as TLV gives them); small ones stay numbers', () => {
  // /3/0/10 and /3/0/21 are Integer resources; /3/0/9 too.
  const json = Buffer.from('[{"bn":"/3/0/","n":"10","v":18446744073709551615},{"n":"21","v":-9223372036854775808},{"n":"9","v":1000000000000000},{"n":"11/0","v":9007199254740993}]');
  assert.deepEqual(decodeContent(CF.SENML_JSON, json, [3, 0], model), [
    { path: '/3/0/10', value: '18446744073709551615' },
    { path: '/3/0/21', value: '-9223372036854775808' },
    { path: '/3/0/9', value: 1000000000000000 },
    { path: '/3/0/11/0', value: '9007199254740993' },
  ]);
  const cbor = Buffer.from(cborEncode([new Map<number, unknown>([[-2, '/3/0/'], [0, '10'], [2, 2n ** 64n - 1n]]), new Map<number, unknown>([[0, '21'], [2, -(2n ** 63n)]]), new Map<number, unknown>([[0, '9'], [2, 7]])]));
  assert.deepEqual(decodeContent(CF.SENML_CBOR, cbor, [3, 0], model), [
    { path: '/3/0/10', value: '18446744073709551615' },
    { path: '/3/0/21', value: '-9223372036854775808' },
    { path: '/3/0/9', value: 7 },
  ]);
  assert.deepEqual(decodeContent(CF.SENML_JSON, Buffer.from('[{"n":"/3/0/0","vs":"12345678901234567890"},{"n":"/3/0/10","v":1234567890123456.5}]'), [3], model), [
    { path: '/3/0/0', value: '12345678901234567890' },
    { path: '/3/0/10', value: 1234567890123456.5 },
  ], 'digits inside strings and non-integers are left alone');
  assert.throws(() => decodeContent(CF.SENML_JSON, Buffer.from('[{"n":"/3/0/1","vs":123456789012345678901}]'), [3], model), CodecError, 'a number is still not a vs string');
});

test('SenML records deeper than 4 levels or outside the requested path are refused (4.00 on MQTT)', () => {
  const deep = Buffer.from('[{"n":"/3/0/1/2/3/4/5/6","v":1}]');
  assert.throws(() => decodeContent(CF.SENML_JSON, deep, [3], model), /deeper than/);
  assert.throws(() => decodeContent(CF.SENML_JSON, Buffer.from('[{"n":"/4/0/1","v":1}]'), [3], model), /outside the requested \/3/);
  assert.throws(() => decodeContent(CF.SENML_JSON, Buffer.from('[{"n":"/3","v":1}]'), [3, 0, 1], model), /outside/);
  assert.throws(() => decodeContent(CF.SENML_CBOR, Buffer.from(cborEncode([new Map<number, unknown>([[0, '/3/1/0'], [2, 1]])])), [3, 0], model), /outside/);
  assert.throws(() => decodeContent(CF.LWM2M_JSON, Buffer.from('{"bn":"/3/0/","e":[{"n":"0/0/0","v":1}]}'), [3, 0], model), /deeper/);
  assert.deepEqual(decodeContent(CF.SENML_JSON, Buffer.from('[{"n":"/3/0/6/0","v":1}]'), [3], model), [{ path: '/3/0/6/0', value: 1 }]);
});
