// The engine's server role over real UDP on 127.0.0.1, driven by the RFC 7252 peer in
// peer.test-kit.ts (its own codec, not coap-packet).
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { until } from '../../../gateway/test/helpers.ts';
import { ManualClock } from './clock.ts';
import { CoapEndpoint } from './endpoint.ts';
import type { CoapReply, CoapRequest } from './message.ts';
import type { Respond } from './server.ts';
import { bindUdp } from './transport.ts';
import { ACK, CON, NON, Peer, RST, code, decode, encode, opt, readUintBuf, uint, type Msg } from './peer.test-kit.ts';

const POST = 2;
const GET = 1;
const BLOCK2 = 23;
const BLOCK1 = 27;
const path = (...segs: string[]): [number, Buffer][] => segs.map((s) => [11, Buffer.from(s)]);

async function serve(handler: (req: CoapRequest, respond: Respond) => void, opts: { clock?: ManualClock; piggybackMs?: number } = {}) {
  const sock = await bindUdp('udp4', 0, '127.0.0.1');
  const ignored: string[] = [];
  const ep = new CoapEndpoint(sock, { id: 'udp4', handler, clock: opts.clock, piggybackMs: opts.piggybackMs }, { malformed: (reason) => ignored.push(reason) });
  return { ep, ignored, at: { address: '127.0.0.1', port: sock.address().port }, close: () => (ep.close(), sock.close()) };
}

describe('server role', () => {
  let peer: Peer;
  before(async () => {
    peer = await Peer.open();
  });
  after(() => peer.close());

  test('a retransmitted CON and a duplicated NON are handled once; the retransmission gets the same response', async () => {
    const handled: string[] = [];
    const { at, ep, close } = await serve((req, respond) => {
      handled.push(`${req.method} ${req.path.join('/')} ${req.payload}`);
      respond({ code: '2.04', payload: `n${handled.length}` });
    });
    peer.got.length = 0;
    const req: Msg = { type: CON, code: POST, mid: 0x10, token: Buffer.from('t1'), options: path('ps', 'a'), payload: Buffer.from('x') };
    peer.send(req, at);
    peer.send(req, at);
    const non: Msg = { ...req, type: NON, mid: 0x11, token: Buffer.from('t2') };
    peer.send(non, at);
    peer.send(non, at);
    await until(() => peer.got.length === 3, 'two ACKs and one NON answer');
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(handled, ['POST ps/a x', 'POST ps/a x']);
    const acks = peer.got.filter((m) => m.type === ACK);
    assert.equal(acks.length, 2);
    assert.ok(acks.every((m) => m.mid === 0x10 && m.payload.toString() === 'n1' && m.code === code(2, 4)));
    assert.equal(peer.got.find((m) => m.type === NON)!.payload.toString(), 'n2');
    assert.ok(ep.stats().dedup >= 2);
    close();
  });

  test('RST and ACK messages that carry a request are ignored: never handled, never answered, Block1 never buffered', async () => {
    const handled: string[] = [];
    const { at, ep, ignored, close } = await serve((req, respond) => {
      handled.push(req.method);
      respond({ code: '2.04' });
    });
    peer.got.length = 0;
    const base: Msg = { type: RST, code: POST, mid: 0x20, token: Buffer.from('r'), options: path('ps', 'evil'), payload: Buffer.from('x') };
    peer.send(base, at);
    peer.send({ ...base, type: ACK, mid: 0x21 }, at);
    const block = Buffer.alloc(64, 1);
    peer.send({ ...base, type: ACK, mid: 0x22, options: [...path('ps', 'b'), [BLOCK1, uint((0 << 4) | 8 | 2)]], payload: block }, at);
    peer.send({ ...base, type: RST, mid: 0x23, options: [...path('ps', 'b'), [BLOCK1, uint((0 << 4) | 8 | 2)]], payload: block }, at);
    // Positive control: a CON request afterwards is handled and answered.
    peer.send({ ...base, type: CON, mid: 0x24 }, at);
    await until(() => peer.got.length === 1, 'the answer to the CON');
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(handled, ['POST']);
    assert.deepEqual([peer.got.length, peer.got[0]!.mid], [1, 0x24]);
    assert.equal(ep.stats().block1Uploads, 0);
    assert.equal(ignored.length, 4);
    close();
  });

  test('Block1 upload with a new token per block (libcoap 4.3 style) is reassembled; 2.31 for each block, Block1 echoed at the end', async () => {
    let body: Buffer = Buffer.alloc(0);
    const { at, close } = await serve((req, respond) => {
      body = req.payload;
      respond({ code: '2.04' });
    });
    peer.got.length = 0;
    const data = Buffer.from(Array.from({ length: 300 }, (_, i) => i & 0xff));
    for (let num = 0; num * 64 < data.length; num++) {
      const more = (num + 1) * 64 < data.length;
      peer.send({ type: CON, code: POST, mid: 0x30 + num, token: Buffer.from([num + 1]), options: [...path('ps', 'up'), [BLOCK1, uint((num << 4) | (more ? 8 : 0) | 2)]], payload: data.subarray(num * 64, num * 64 + 64) }, at);
      await until(() => peer.got.length === num + 1, `answer to block ${num}`);
      const a = peer.got[num]!;
      assert.equal(a.code, more ? code(2, 31) : code(2, 4));
      assert.equal(readUintBuf(opt(a, BLOCK1)) >> 4, num);
    }
    assert.ok(body.equals(data));
    close();
  });

  test('a large response is sliced with Block2 (ETag, Size2); a follow-up for block N gets block N', async () => {
    const big = Buffer.alloc(2500, 'z');
    const { at, ep, close } = await serve((_req, respond) => respond({ code: '2.05', payload: big }));
    peer.got.length = 0;
    const parts: Buffer[] = [];
    for (let num = 0; ; num++) {
      peer.send({ type: CON, code: GET, mid: 0x40 + num, token: Buffer.from('g'), options: [...path('big'), ...(num ? [[BLOCK2, uint((num << 4) | ep.szx)] as [number, Buffer]] : [])], payload: Buffer.alloc(0) }, at);
      await until(() => peer.got.length === num + 1, `block ${num}`);
      const r = peer.got[num]!;
      parts.push(r.payload);
      assert.ok(opt(r, 4), 'ETag');
      if (num === 0) assert.equal(readUintBuf(opt(r, 28)), 2500, 'Size2');
      if (!(readUintBuf(opt(r, BLOCK2)) & 8)) break;
    }
    assert.ok(Buffer.concat(parts).equals(big));
    assert.equal(parts.length, Math.ceil(2500 / ep.blockSize));
    close();
  });

  test('a slow answer: empty ACK at piggybackMs, then a CON response retransmitted until ACKed; request retransmissions get the empty ACK', async () => {
    const clock = new ManualClock(() => 0);
    let later: ((r: CoapReply) => void) | undefined;
    const { at, close } = await serve((_req, respond) => (later = respond), { clock, piggybackMs: 100 });
    peer.got.length = 0;
    const req: Msg = { type: CON, code: POST, mid: 0x50, token: Buffer.from('s'), options: path('ps', 's'), payload: Buffer.from('x') };
    peer.send(req, at);
    await until(() => later !== undefined, 'handler called');
    clock.advance(100);
    await until(() => peer.got.length === 1, 'empty ACK');
    assert.deepEqual([peer.got[0]!.type, peer.got[0]!.code, peer.got[0]!.mid], [ACK, 0, 0x50]);
    peer.send(req, at);
    await until(() => peer.got.length === 2, 'empty ACK again');
    later!({ code: '2.04' });
    await until(() => peer.got.length === 3, 'separate response');
    const res = peer.got[2]!;
    assert.deepEqual([res.type, res.code, res.token.toString()], [CON, code(2, 4), 's']);
    clock.advance(2000);
    await until(() => peer.got.length === 4, 'retransmitted while not ACKed');
    assert.equal(peer.got[3]!.mid, res.mid);
    peer.send({ type: ACK, code: 0, mid: res.mid, token: Buffer.alloc(0), options: [], payload: Buffer.alloc(0) }, at);
    await new Promise((r) => setTimeout(r, 50));
    clock.advance(60_000);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(peer.got.length, 4, 'no retransmission after the ACK');
    close();
  });

  test('any DatagramTransport: its maxDatagram picks the block size, and every message sent fits it', async () => {
    const sent: Buffer[] = [];
    const modem = Object.assign(new EventEmitter(), {
      maxDatagram: 300,
      send(buf: Buffer, offset: number, length: number, _port: number, _address: string, cb?: (err: Error | null) => void) {
        sent.push(buf.subarray(offset, offset + length));
        cb?.(null);
      },
    });
    const ep = new CoapEndpoint(modem, { id: 'modem', handler: (_req, respond) => respond({ code: '2.05', payload: Buffer.alloc(1000, 'm') }) });
    assert.equal(ep.blockSize, 128, '300-byte datagrams: 128-byte blocks');
    const from = { address: '10.1.2.3', port: 5000 };
    modem.emit('message', encode({ type: CON, code: GET, mid: 1, token: Buffer.from('m'), options: path('big'), payload: Buffer.alloc(0) }), from);
    await until(() => sent.length === 1, 'first block');
    const first = decode(sent[0]!);
    assert.equal(first.payload.length, 128);
    assert.equal(readUintBuf(opt(first, BLOCK2)) & 7, 3);
    assert.ok(sent.every((b) => b.length <= 300));
    ep.close();
  });

  test('CON messages awaiting an ACK are bounded: beyond maxAwaitingAck a separate response is sent once, not retransmitted', async () => {
    const clock = new ManualClock(() => 0);
    const sock = await bindUdp('udp4', 0, '127.0.0.1');
    const held: Respond[] = [];
    const ep = new CoapEndpoint(sock, { id: 'udp4', clock, piggybackMs: 10, maxAwaitingAck: 2, handler: (_req, respond) => void held.push(respond) });
    const at = { address: '127.0.0.1', port: sock.address().port };
    peer.got.length = 0;
    for (let i = 0; i < 3; i++) peer.send({ type: CON, code: POST, mid: 0x60 + i, token: Buffer.from([i]), options: path('ps', 'b'), payload: Buffer.alloc(0) }, at);
    // Each request: an empty ACK at piggybackMs, then a separate CON 2.04.
    await until(() => held.length === 3, 'three requests');
    clock.advance(10);
    await until(() => peer.got.filter((m) => m.type === ACK).length === 3, 'three empty ACKs');
    for (const r of held) r({ code: '2.04' });
    await until(() => peer.got.filter((m) => m.type === CON).length === 3, 'three separate responses');
    assert.equal(ep.stats().awaitingAck, 2);
    assert.equal(ep.untracked, 1);
    clock.advance(2000);
    await until(() => peer.got.filter((m) => m.type === CON).length === 5, 'two retransmitted');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(peer.got.filter((m) => m.type === CON).length, 5, 'the third is not retransmitted');
    ep.close();
    sock.close();
  });
});
