// The engine's client role over real UDP on 127.0.0.1, against a CoAP peer written in the test
// from RFC 7252 (peer.test-kit.ts). Retransmission timing runs on a ManualClock: counts and
// spacing are conditions, never wall-clock thresholds.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { until } from '../../../gateway/test/helpers.ts';
import { ManualClock } from './clock.ts';
import { CoapEndpoint } from './endpoint.ts';
import { CoapResetError, CoapTimeoutError } from './errors.ts';
import { bindUdp } from './transport.ts';
import type { CoapResponse } from './message.ts';
import { ACK, CON, NON, Peer, RST, code, opt, readUintBuf, uint } from './peer.test-kit.ts';

const GET = 1;
const OBSERVE = 6;
const ETAG = 4;
const BLOCK2 = 23;
const BLOCK1 = 27;

async function endpoint(clock?: ManualClock) {
  const sock = await bindUdp('udp4', 0, '127.0.0.1');
  const ep = new CoapEndpoint(sock, { id: 'udp4', clock });
  const at = { address: '127.0.0.1', port: sock.address().port };
  return { ep, at, close: () => (ep.close(), sock.close()) };
}

describe('client role against an RFC 7252 peer', () => {
  let peer: Peer;
  before(async () => {
    peer = await Peer.open();
  });
  after(() => peer.close());

  test('CON GET answered piggy-backed: matched by token, path and query sent as options', async () => {
    const { ep, close } = await endpoint();
    peer.got.length = 0;
    peer.onMessage = (m, from) => peer.send({ type: ACK, code: code(2, 5), mid: m.mid, token: m.token, options: [[12, Buffer.from([0])]], payload: Buffer.from('21.5') }, from);
    const res = await ep.request(peer.address, { method: 'GET', path: '/3303/0/5700', query: ['a=1'] });
    assert.deepEqual([res.code, res.type, res.payload.toString()], ['2.05', 'ACK', '21.5']);
    const req = peer.got[0]!;
    assert.equal(req.type, CON);
    assert.equal(req.code, GET);
    assert.deepEqual(req.options.filter(([n]) => n === 11).map(([, v]) => v.toString()), ['3303', '0', '5700']);
    assert.deepEqual(req.options.filter(([n]) => n === 15).map(([, v]) => v.toString()), ['a=1']);
    assert.ok(req.token.length >= 1);
    close();
  });

  test('no ACK: 4 retransmissions at w, 2w, 4w, 8w after the first, then a timeout error after 16w more', async () => {
    const clock = new ManualClock(() => 0); // random factor draw 0: w = ACK_TIMEOUT = 2000 ms
    const { ep, close } = await endpoint(clock);
    peer.got.length = 0;
    peer.onMessage = () => {};
    const p = ep.request(peer.address, { method: 'GET', path: 'x' });
    let err: Error | undefined;
    p.catch((e) => (err = e));
    await until(() => peer.got.length === 1, 'first transmission');
    const gaps = [2000, 4000, 8000, 16000];
    for (const [i, gap] of gaps.entries()) {
      clock.advance(gap - 1);
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(peer.got.length, i + 1, `no retransmission before ${gap} ms`);
      clock.advance(1);
      await until(() => peer.got.length === i + 2, `retransmission ${i + 1}`);
    }
    assert.ok(peer.got.every((m) => m.mid === peer.got[0]!.mid && m.token.equals(peer.got[0]!.token)), 'the same message each time');
    clock.advance(32000 - 1);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(err, undefined, 'still waiting for the last ACK');
    clock.advance(1);
    await until(() => err !== undefined, 'timeout');
    const e = err as Error | undefined;
    assert.ok(e instanceof CoapTimeoutError);
    assert.equal((e as CoapTimeoutError).code, 'coap_timeout');
    assert.equal((e as CoapTimeoutError).attempts, 5);
    assert.equal(peer.got.length, 5);
    assert.equal(ep.stats().pendingRequests, 0);
    close();
  });

  test('the random factor stretches the first wait up to 1.5 x ACK_TIMEOUT', async () => {
    const clock = new ManualClock(() => 0.999);
    const { ep, close } = await endpoint(clock);
    peer.got.length = 0;
    peer.onMessage = () => {};
    ep.request(peer.address, { method: 'GET', path: 'x' }).catch(() => {});
    await until(() => peer.got.length === 1, 'first');
    clock.advance(2990);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(peer.got.length, 1);
    clock.advance(10);
    await until(() => peer.got.length === 2, 'retransmission at ~2998 ms');
    close();
  });

  test('an RST rejects with a reset error', async () => {
    const { ep, close } = await endpoint();
    peer.onMessage = (m, from) => peer.send({ type: RST, code: 0, mid: m.mid, token: Buffer.alloc(0), options: [], payload: Buffer.alloc(0) }, from);
    await assert.rejects(ep.request(peer.address, { method: 'GET', path: 'x' }), (e: unknown) => e instanceof CoapResetError && e.code === 'coap_reset');
    close();
  });

  test('separate response: empty ACK, then a CON response that is ACKed; its duplicate is ACKed again and delivered once', async () => {
    const clock = new ManualClock(() => 0);
    const { ep, at, close } = await endpoint(clock);
    peer.got.length = 0;
    let token: Buffer = Buffer.alloc(0);
    peer.onMessage = (m, from) => {
      if (m.code !== GET) return;
      token = m.token;
      peer.send({ type: ACK, code: 0, mid: m.mid, token: Buffer.alloc(0), options: [], payload: Buffer.alloc(0) }, from);
    };
    const got: CoapResponse[] = [];
    let acks = 0;
    const p = ep.request(peer.address, { method: 'GET', path: 'slow', onAck: () => acks++ }).then((r) => void got.push(r));
    await until(() => token.length > 0, 'request');
    await until(() => acks === 1, 'onAck for the empty ACK');
    // Acknowledged: no retransmission however long the response takes (within timeoutMs).
    clock.advance(60_000);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(peer.got.length, 1, 'not retransmitted after the empty ACK');
    const res = { type: CON, code: code(2, 5), mid: 0x7001, token, options: [] as [number, Buffer][], payload: Buffer.from('late') };
    peer.send(res, at);
    await p;
    await until(() => peer.got.some((m) => m.type === ACK && m.mid === 0x7001), 'our ACK of the separate response');
    assert.deepEqual([got[0]!.code, got[0]!.type, got[0]!.payload.toString()], ['2.05', 'CON', 'late']);
    peer.send(res, at); // our ACK was lost, the peer retransmits
    await until(() => peer.got.filter((m) => m.type === ACK && m.mid === 0x7001).length === 2, 'ACKed again');
    assert.equal(got.length, 1);
    close();
  });

  test('no response after the empty ACK within timeoutMs: timeout error', async () => {
    const clock = new ManualClock(() => 0);
    const { ep, close } = await endpoint(clock);
    peer.got.length = 0;
    peer.onMessage = (m, from) => peer.send({ type: ACK, code: 0, mid: m.mid, token: Buffer.alloc(0), options: [], payload: Buffer.alloc(0) }, from);
    let err: Error | undefined;
    ep.request(peer.address, { method: 'GET', path: 'x', timeoutMs: 5000 }).catch((e) => (err = e));
    await until(() => ep.stats().awaitingAck === 0 && peer.got.length === 1, 'acknowledged');
    await new Promise((r) => setTimeout(r, 20));
    clock.advance(5000);
    await until(() => err !== undefined, 'timeout');
    assert.ok(err instanceof CoapTimeoutError);
    close();
  });

  test('Block2 read of a 3000-byte resource in 512-byte blocks: one response with the whole body', async () => {
    const { ep, close } = await endpoint();
    const body = Buffer.from(Array.from({ length: 3000 }, (_, i) => 33 + (i % 90)));
    peer.got.length = 0;
    peer.onMessage = (m, from) => {
      const b2 = opt(m, BLOCK2);
      const num = b2 ? readUintBuf(b2) >> 4 : 0;
      const part = body.subarray(num * 512, num * 512 + 512);
      const more = (num + 1) * 512 < body.length;
      peer.send({ type: ACK, code: code(2, 5), mid: m.mid, token: m.token, options: [[ETAG, Buffer.from('e1')], [BLOCK2, uint((num << 4) | (more ? 8 : 0) | 5)]], payload: part }, from);
    };
    const res = await ep.request(peer.address, { method: 'GET', path: 'big' });
    assert.equal(res.code, '2.05');
    assert.ok(res.payload.equals(body), `got ${res.payload.length} bytes`);
    assert.equal(peer.got.length, 6, 'six blocks requested');
    assert.deepEqual(peer.got.slice(1).map((m) => readUintBuf(opt(m, BLOCK2)) >> 4), [1, 2, 3, 4, 5]);
    assert.ok(peer.got.every((m) => m.token.equals(peer.got[0]!.token)));
    close();
  });

  test('Block1 upload of 2500 bytes: blocks follow 2.31 Continue, the last response ends it', async () => {
    const { ep, close } = await endpoint();
    const body = Buffer.alloc(2500, 7);
    const received: Buffer[] = [];
    peer.got.length = 0;
    peer.onMessage = (m, from) => {
      const v = readUintBuf(opt(m, BLOCK1));
      received.push(m.payload);
      const more = (v & 8) !== 0;
      peer.send({ type: ACK, code: more ? code(2, 31) : code(2, 4), mid: m.mid, token: m.token, options: [[BLOCK1, uint(v)]], payload: Buffer.alloc(0) }, from);
    };
    const res = await ep.request(peer.address, { method: 'PUT', path: '5/0/0', payload: body });
    assert.equal(res.code, '2.04');
    assert.ok(Buffer.concat(received).equals(body));
    assert.equal(received.length, Math.ceil(2500 / ep.blockSize));
    close();
  });

  test('observe: notifications in freshness order (a reordered older one is dropped), CON ones ACKed, RST once forgotten', async () => {
    const { ep, at, close } = await endpoint();
    peer.got.length = 0;
    let token: Buffer = Buffer.alloc(0);
    peer.onMessage = (m, from) => {
      if (m.code !== GET) return;
      token = m.token;
      peer.send({ type: ACK, code: code(2, 5), mid: m.mid, token: m.token, options: [[OBSERVE, uint(5)]], payload: Buffer.from('v5') }, from);
    };
    const notes: string[] = [];
    const reg = await ep.request(peer.address, { method: 'GET', path: '3303/0/5700', observe: 0, onNotification: (n) => notes.push(n.payload.toString()) });
    assert.deepEqual([reg.code, reg.observe, reg.payload.toString()], ['2.05', 5, 'v5']);
    assert.equal(readUintBuf(opt(peer.got[0]!, OBSERVE)), 0);
    const note = (type: number, mid: number, seq: number) => peer.send({ type, code: code(2, 5), mid, token, options: [[OBSERVE, uint(seq)]], payload: Buffer.from(`v${seq}`) }, at);
    note(CON, 0x100, 7);
    await until(() => peer.got.some((m) => m.type === ACK && m.mid === 0x100), 'ACK of the CON notification');
    note(NON, 0x101, 6); // older than 7: reordered in the network
    note(NON, 0x102, 8);
    await until(() => notes.length === 2, 'two notifications');
    assert.deepEqual(notes, ['v7', 'v8']);
    assert.equal(ep.stats().observations, 1);
    assert.ok(ep.client.forget(peer.address, token));
    note(CON, 0x103, 9);
    await until(() => peer.got.some((m) => m.type === RST && m.mid === 0x103), 'RST for a forgotten observation');
    assert.deepEqual(notes, ['v7', 'v8']);
    close();
  });

  test('a response from another address with the same token is not taken', async () => {
    const { ep, at, close } = await endpoint();
    const other = await Peer.open();
    let token: Buffer = Buffer.alloc(0);
    peer.onMessage = (m, from) => {
      token = m.token;
      peer.send({ type: ACK, code: 0, mid: m.mid, token: Buffer.alloc(0), options: [], payload: Buffer.alloc(0) }, from);
    };
    const got: string[] = [];
    const p = ep.request(peer.address, { method: 'GET', path: 'x' }).then((r) => void got.push(r.payload.toString()));
    await until(() => token.length > 0, 'request');
    other.send({ type: CON, code: code(2, 5), mid: 9, token, options: [], payload: Buffer.from('spoof') }, at);
    await until(() => other.got.length === 1, 'answer to the stranger');
    assert.equal(other.got[0]!.type, RST, 'a response nobody asked that address for is rejected');
    peer.send({ type: NON, code: code(2, 5), mid: 10, token, options: [], payload: Buffer.from('real') }, at);
    await p;
    assert.deepEqual(got, ['real']);
    other.close();
    close();
  });
});
