import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generate, parse } from 'coap-packet';
import { checkDatagram, codeText, readUint, replyFor, resetFor, uintOption } from './wire.ts';
import { rng } from '../../../gateway/test/random.ts';


const post = generate({ code: 'POST', messageId: 7, token: Buffer.from([1, 2]), confirmable: true, options: [{ name: 'Uri-Path', value: Buffer.from('ps') }], payload: Buffer.from('x') });

test('well-formed requests pass; header fields are read', () => {
  const c = checkDatagram(post);
  assert.ok(c.ok);
  assert.equal(c.header.type, 0);
  assert.equal(c.header.code, 2);
  assert.equal(c.header.messageId, 7);
  assert.equal(c.header.tokenLength, 2);
  assert.ok(checkDatagram(Buffer.from([0x40, 0, 0, 1])).ok, 'empty CON (ping)');
});

test('malformed datagrams are named, with the header when one was readable', () => {
  const cases: [Buffer, RegExp, boolean][] = [
    [Buffer.alloc(0), /shorter/, false],
    [Buffer.from([0x40, 1, 0]), /shorter/, false],
    [Buffer.from([0x80, 1, 0, 1]), /version/, false],
    [Buffer.from([0x49, 1, 0, 1]), /token length 9/, true],
    [Buffer.from([0x41, 0, 0, 1, 5]), /empty message/, true],
    [Buffer.from([0x40, 0x20, 0, 1]), /reserved code class 1/, true],
    [Buffer.from([0x40, 0xe0, 0, 1]), /reserved code class 7/, true],
    [Buffer.from([0x44, 1, 0, 1, 1]), /token runs past/, true],
    [Buffer.from([0x40, 1, 0, 1, 0xb5, 0x61]), /option value runs past/, true],
    [Buffer.from([0x40, 1, 0, 1, 0xf0]), /nibble 15/, true],
    [Buffer.from([0x40, 1, 0, 1, 0xd0]), /delta runs past/, true],
    [Buffer.from([0x40, 1, 0, 1, 0x0e, 0]), /length runs past/, true],
    [Buffer.from([0x40, 1, 0, 1, 0xff]), /payload marker/, true],
  ];
  for (const [buf, re, hasHeader] of cases) {
    const c = checkDatagram(buf);
    assert.equal(c.ok, false, buf.toString('hex'));
    if (c.ok) continue;
    assert.match(c.reason, re, buf.toString('hex'));
    assert.equal(c.header !== undefined, hasHeader, buf.toString('hex'));
  }
});

test('seeded fuzz: checkDatagram never throws, and whatever it accepts coap-packet parses in full', () => {
  const seed = Number(process.env.FUZZ_SEED ?? 0xc0a9);
  const r = rng(seed);
  let accepted = 0;
  for (let i = 0; i < 20_000; i++) {
    let buf: Buffer;
    if (r() < 0.5) {
      buf = Buffer.from(post);
      const flips = 1 + Math.floor(r() * 4);
      for (let f = 0; f < flips; f++) buf[Math.floor(r() * buf.length)] = Math.floor(r() * 256);
      if (r() < 0.3) buf = buf.subarray(0, Math.floor(r() * buf.length));
    } else {
      buf = Buffer.from(Array.from({ length: Math.floor(r() * 40) }, () => Math.floor(r() * 256)));
      if (buf.length > 0 && r() < 0.7) buf[0] = 0x40 | (buf[0]! & 0x3f);
    }
    const c = checkDatagram(buf);
    if (!c.ok) continue;
    accepted++;
    const p = parse(buf);
    // Every option value must be whole: the options plus payload account for every byte.
    const optBytes = p.options.reduce((n, o) => n + o.value.length, 0);
    assert.ok(optBytes + p.payload.length <= buf.length, `seed ${seed} case ${i}: ${buf.toString('hex')}`);
  }
  assert.ok(accepted > 100, `fuzz reached the accept path only ${accepted} times`);
});

test('replies: RST, piggy-backed ACK for CON, NON for NON; uint options', () => {
  const rst = parse(resetFor(0x1234));
  assert.equal(rst.reset, true);
  assert.equal(rst.messageId, 0x1234);
  const ack = parse(replyFor({ confirmable: true, messageId: 9, token: Buffer.from([7]) }, '4.29', [{ name: 'Max-Age', value: uintOption(3) }]));
  assert.equal(ack.ack, true);
  assert.equal(ack.code, '4.29');
  assert.equal(ack.messageId, 9);
  assert.deepEqual(ack.token, Buffer.from([7]));
  const non = parse(replyFor({ confirmable: false, messageId: 9, token: Buffer.from([7]) }, '5.00', [], undefined, () => 77));
  assert.equal(non.ack, false);
  assert.equal(non.confirmable, false);
  assert.equal(non.messageId, 77);
  assert.equal(codeText(0x45), '2.05');
  assert.equal(codeText(0x9d), '4.29');
  for (const n of [0, 1, 255, 256, 65535, 65536, 16777215]) assert.equal(readUint(uintOption(n)), n);
  assert.equal(uintOption(0).length, 0);
  assert.equal(readUint(Buffer.alloc(5)), undefined);
});
