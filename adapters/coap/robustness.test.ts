// Bad input, floods and the transport seam: malformed datagrams get RST or silence (never
// exception text), a per-peer rate limit answers 4.29, per-peer state stays within its bounds, and
// the same handler serves a non-UDP datagram transport.
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { EventEmitter } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { generate, parse, type ParsedPacket } from 'coap-packet';
import pino from 'pino';
import type { AdapterContext, PublishRequest } from '../../gateway/core/adapter.ts';
import { until } from '../../gateway/test/helpers.ts';
import { Metrics } from '../../gateway/metrics/metrics.ts';
import { CoapClient } from '../../firmware-sim/coap/client.ts';
import { CoapAdapter } from './adapter.ts';
import { coapConfigSchema } from './config.ts';
import { startCoap, type CoapGateway } from './test-support.ts';
import { rng } from '../../gateway/test/random.ts';
import { ServiceRegistry } from '../../gateway/core/services.ts';


async function rawSocket(port: number, host = '127.0.0.1'): Promise<{ sock: Socket; replies: ParsedPacket[]; raw: Buffer[]; send(b: Buffer): void }> {
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, host, () => r()));
  const replies: ParsedPacket[] = [];
  const raw: Buffer[] = [];
  sock.on('message', (m) => {
    raw.push(m);
    try {
      replies.push(parse(m));
    } catch {
      // counted in raw
    }
  });
  return { sock, replies, raw, send: (b) => sock.send(b, port, '127.0.0.1') };
}

const postPs = (mid: number, topic = 'ok') =>
  generate({ code: 'POST', messageId: mid, token: Buffer.from([mid & 0xff]), confirmable: true, options: [{ name: 'Uri-Path', value: Buffer.from('ps') }, { name: 'Uri-Path', value: Buffer.from(topic) }, { name: 'Uri-Query', value: Buffer.from('c=raw') }], payload: Buffer.from('v') });

describe('malformed datagrams and floods', () => {
  let g: CoapGateway;
  before(async () => {
    g = await startCoap({ limits: { rate: 2, burst: 20, dedup_cache: 100, max_peers: 20 } });
  });
  after(async () => g.stop());

  test('RST for a malformed CON, silence for the rest, RST for a ping; the server keeps serving', async () => {
    const r = await rawSocket(g.coapPort);
    r.send(Buffer.from([0x40, 0x01, 0x12, 0x34, 0xb5, 0x61])); // option runs past the end
    await until(() => r.replies.length === 1, 'RST');
    assert.equal(r.replies[0]!.reset, true);
    assert.equal(r.replies[0]!.messageId, 0x1234);
    r.send(Buffer.from([0x40, 0xe0, 0x00, 0x02])); // reserved class 7, CON
    r.send(Buffer.from([0x40, 0x00, 0x00, 0x03])); // empty CON: ping
    await until(() => r.replies.length === 3, 'RST for class 7 and for the ping');
    assert.deepEqual(r.replies.slice(1).map((p) => [p.reset, p.messageId]), [[true, 2], [true, 3]]);
    r.send(Buffer.from([0x80, 0x01, 0x00, 0x04])); // CoAP version 2: silently ignored (RFC 7252 3)
    r.send(Buffer.from([0x50, 0x01, 0x00, 0x05, 0xb5])); // malformed NON: ignored
    r.send(Buffer.alloc(0));
    r.send(postPs(6));
    await until(() => r.replies.length === 4, 'a normal answer after the garbage');
    assert.deepEqual([r.replies[3]!.code, r.replies[3]!.messageId], ['2.04', 6]);
    assert.ok(g.metric('malformed') >= 3);
    r.sock.close();
  });

  test('seeded fuzz: no reply carries exception text or 5.00, and another client is served throughout', async () => {
    const seed = Number(process.env.FUZZ_SEED ?? 0xf10d);
    const rand = rng(seed);
    const r = await rawSocket(g.coapPort);
    const base = postPs(1);
    for (let i = 0; i < 2000; i++) {
      let b = Buffer.from(base);
      for (let f = 0; f < 1 + Math.floor(rand() * 3); f++) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
      if (rand() < 0.3) b = b.subarray(0, Math.floor(rand() * b.length));
      r.send(b);
      // Pace the flood a little: the server shares this process, and a full socket buffer would
      // only measure the kernel dropping datagrams.
      if (i % 20 === 0) await new Promise((res) => setImmediate(res));
    }
    // A bystander device (which retransmits, as CoAP clients do) on another address is served meanwhile.
    const good = await CoapClient.open('127.0.0.1', g.coapPort, '127.0.0.2');
    assert.equal((await good.request({ method: 'POST', path: '/ps/bystander', query: { c: 'good' }, payload: 'ok' })).code, '2.04');
    await new Promise((res) => setTimeout(res, 200));
    for (const p of r.replies) {
      assert.notEqual(p.code, '5.00', `seed ${seed}: 5.00 reply`);
      assert.doesNotMatch(p.payload.toString(), /Error|at [^\s]+:\d+|undefined|TypeError|Cannot/, `seed ${seed}: ${p.payload}`);
    }
    assert.ok(g.metric('malformed') > 0);
    r.sock.close();
    good.close();
  });

  test('rate limit: an address over its budget gets 4.29 with Max-Age, from any of its ports; other addresses are unaffected', async () => {
    const r = await rawSocket(g.coapPort);
    const port2 = await rawSocket(g.coapPort);
    for (let i = 0; i < 40; i++) r.send(postPs(100 + i));
    port2.send(postPs(1)); // a fresh source port on the same address shares its budget
    await until(() => r.replies.length === 40, 'a reply to each CON');
    const limited = r.replies.filter((p) => p.code === '4.29');
    assert.ok(limited.length >= 10, `${limited.length} of 40 limited`);
    const maxAge = limited[0]!.options.find((o) => o.name === 'Max-Age')!.value;
    assert.ok(maxAge.length >= 1 && maxAge[0]! >= 1);
    await until(() => port2.replies.length === 1, 'same address, new port');
    assert.equal(port2.replies[0]!.code, '4.29');
    const other = await rawSocket(g.coapPort, '127.0.0.2');
    other.send(postPs(1)); // another address has its own budget
    await until(() => other.replies.length === 1, 'other address');
    assert.equal(other.replies[0]!.code, '2.04');
    r.sock.close();
    port2.sock.close();
    other.sock.close();
  });

  test('per-peer state is bounded: 60 addresses x 5 requests stay within dedup_cache and max_peers; churning addresses share one budget', async () => {
    // 127.0.0.10-69: 60 addresses, 3 x max_peers.
    const peers = await Promise.all(Array.from({ length: 60 }, (_, i) => CoapClient.open('127.0.0.1', g.coapPort, `127.0.0.${10 + i}`)));
    const limited = g.metric('rate_limited');
    const codes = await Promise.all(peers.flatMap((p, i) => Array.from({ length: 5 }, (_, k) => p.request({ method: 'POST', path: `/ps/bound/${i}`, query: { c: `b${i}` }, payload: String(k) }).then((r) => r.code))));
    assert.deepEqual(new Set(codes), new Set(['2.04', '4.29']));
    // Each address would fit its own burst (20); with the table full, new ones share one bucket.
    assert.ok(g.metric('rate_limited') > limited, 'addresses beyond max_peers do not each get a fresh burst');
    assert.ok(g.metric('dedup/entries') <= 100, `dedup ${g.metric('dedup/entries')}`);
    assert.ok(g.metric('peers/tracked') <= 20, `peers ${g.metric('peers/tracked')}`);
    for (const p of peers) p.close();
  });
});

/** An adapter context whose gateway side is a stub: `publish` (and `authenticate`) decide how those go. */
function stubContext(publish: (r: PublishRequest) => Promise<void>, authenticate: AdapterContext['messages']['authenticate'] = async () => ({ ok: true })): AdapterContext {
  return {
    messages: {
      publish,
      subscribe: async () => ({ unsubscribe: async () => {} }),
      authenticate,
      identify: async () => ({ ok: true }),
      deviceConnected: () => {},
      deviceDisconnected: () => {},
      deviceSeen: () => {},
    },
    log: pino({ level: 'silent' }),
    metrics: new Metrics().scoped('adapters/coap'),
    registry: { get: () => undefined, list: () => [] },
    services: new ServiceRegistry().scoped({ name: 'coap', uses: ['datagram/'] }),
    fail: (err) => assert.fail(err),
  };
}

function fakeTransport(sent: Buffer[]) {
  return Object.assign(new EventEmitter(), {
    send(buf: Buffer, offset: number, length: number, _port: number, _address: string, cb?: (err: Error | null) => void) {
      sent.push(buf.subarray(offset, offset + length));
      cb?.(null);
    },
  });
}

describe('transport seam', () => {
  test('the handler serves any EventEmitter with a dgram-style send(), including retransmissions', async () => {
    const published: PublishRequest[] = [];
    const ctx = stubContext(async (r) => void published.push(r));
    const adapter = new CoapAdapter(coapConfigSchema.parse({ port: 0, host: '127.0.0.1', ipv6: { enabled: false } }));
    await adapter.start(ctx);
    const sent: { buf: Buffer; port: number; address: string }[] = [];
    const modem = Object.assign(new EventEmitter(), {
      send(buf: Buffer, offset: number, length: number, port: number, address: string, cb?: (err: Error | null) => void) {
        sent.push({ buf: buf.subarray(offset, offset + length), port, address });
        cb?.(null);
      },
    });
    const server = adapter.attach('modem', modem);
    const rinfo = { address: '10.0.0.7', port: 40000, family: 'IPv4', size: 0 };
    modem.emit('message', postPs(9, 'nbiot'), rinfo);
    await until(() => sent.length === 1, 'reply through the modem transport');
    const reply = parse(sent[0]!.buf);
    assert.deepEqual([reply.code, reply.ack, reply.messageId, sent[0]!.address, sent[0]!.port], ['2.04', true, 9, '10.0.0.7', 40000]);
    assert.equal(published[0]!.topic, 'nbiot');
    assert.equal(published[0]!.device.address, '10.0.0.7:40000');
    modem.emit('message', postPs(9, 'nbiot'), rinfo); // the modem retransmits
    await until(() => sent.length === 2, 'cached reply');
    assert.deepEqual(sent[1]!.buf, sent[0]!.buf);
    assert.equal(published.length, 1, 'a retransmission is not published twice');
    const non = generate({ code: 'POST', messageId: 10, token: Buffer.from([10]), confirmable: false, options: [{ name: 'Uri-Path', value: Buffer.from('ps') }, { name: 'Uri-Path', value: Buffer.from('non') }], payload: Buffer.from('once') });
    modem.emit('message', non, rinfo);
    modem.emit('message', non, rinfo); // a duplicated NON
    await until(() => published.length === 2, 'the NON publish');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(published.length, 2, 'a duplicated NON is published once');
    sent.length = 2; // drop the NON reply from the list
    modem.emit('message', Buffer.from([0x40, 0x01, 0x00, 0x0a, 0xb5]), rinfo);
    await until(() => sent.length === 3, 'RST through the modem transport');
    assert.equal(parse(sent[2]!.buf).reset, true);
    adapter.detach(server);
    modem.emit('message', postPs(13, 'gone'), rinfo);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(sent.length, 3, 'a detached transport is no longer served');
    assert.equal(published.length, 2);
    await adapter.stop();
  });

  test('a publish slower than piggyback_timeout: empty ACK first, then one separate CON 2.04; retransmissions are not processed again', async () => {
    const sent: Buffer[] = [];
    // Every publish that reaches the gateway side is counted and kept pending until released.
    const pending: (() => void)[] = [];
    const ctx = stubContext(() => new Promise<void>((r) => void pending.push(r)));
    const adapter = new CoapAdapter(coapConfigSchema.parse({ port: 0, host: '127.0.0.1', ipv6: { enabled: false }, piggyback_timeout: '20ms' }));
    await adapter.start(ctx);
    const link = fakeTransport(sent);
    adapter.attach('link', link);
    const rinfo = { address: '10.0.0.8', port: 40001, family: 'IPv4', size: 0 };
    const separate = () => sent.map((b) => parse(b)).filter((p) => p.code === '2.04');
    link.emit('message', postPs(11, 'slow'), rinfo);
    await until(() => sent.length === 1, 'empty ACK');
    assert.deepEqual([parse(sent[0]!).code, parse(sent[0]!).ack, parse(sent[0]!).messageId], ['0.00', true, 11]);
    link.emit('message', postPs(11, 'slow'), rinfo); // retransmission after the empty ACK, publish still pending
    await until(() => sent.length === 2, 'the empty ACK again');
    assert.deepEqual(sent[1], sent[0]);
    // Positive control: a different request from the same peer does reach the gateway side, so
    // by the time it has, a re-processed retransmission would have too.
    link.emit('message', postPs(12, 'other'), rinfo);
    await until(() => pending.length >= 2, 'the other publish');
    await new Promise((r) => setTimeout(r, 40)); // past piggyback_timeout: a second exchange would have sent its empty ACK
    assert.equal(pending.length, 2, 'the retransmission was not published again');
    for (const release of pending) release();
    await until(() => separate().length === 2, 'separate responses');
    const res = separate().find((p) => p.token.equals(Buffer.from([11])))!;
    assert.equal(res.confirmable, true);
    assert.equal(separate().filter((p) => p.token.equals(Buffer.from([11]))).length, 1, 'one separate response for message 11');
    link.emit('message', generate({ code: '0.00', messageId: res.messageId, ack: true }), rinfo);
    // A late retransmission (the client never saw the empty ACK) still gets the empty ACK, not a second publish.
    const before = sent.length;
    link.emit('message', postPs(11, 'slow'), rinfo);
    await until(() => sent.length === before + 1, 'empty ACK for a late retransmission');
    assert.deepEqual(sent[before], sent[0]);
    assert.equal(pending.length, 2);
    await adapter.stop();
  });

  test('max_sessions holds when logins are authenticated concurrently', async () => {
    const pending: (() => void)[] = [];
    const ctx = stubContext(async () => {}, () => new Promise((r) => void pending.push(() => r({ ok: true }))));
    const adapter = new CoapAdapter(coapConfigSchema.parse({ port: 0, host: '127.0.0.1', ipv6: { enabled: false }, limits: { max_sessions: 1 } }));
    await adapter.start(ctx);
    const sent: Buffer[] = [];
    const link = fakeTransport(sent);
    adapter.attach('link', link);
    const login = (mid: number, c: string) => generate({ code: 'POST', messageId: mid, token: Buffer.from([mid]), confirmable: true, options: [{ name: 'Uri-Path', value: Buffer.from('mqtt') }, { name: 'Uri-Path', value: Buffer.from('connection') }, { name: 'Uri-Query', value: Buffer.from(`c=${c}`) }] });
    link.emit('message', login(1, 's1'), { address: '10.0.0.10', port: 40010, family: 'IPv4', size: 0 });
    link.emit('message', login(2, 's2'), { address: '10.0.0.11', port: 40011, family: 'IPv4', size: 0 });
    await until(() => pending.length === 2, 'both logins are being authenticated');
    for (const release of pending) release();
    await until(() => sent.length === 2, 'both answered');
    assert.deepEqual(sent.map((b) => parse(b).code).sort(), ['2.01', '5.03']);
    assert.equal((adapter as unknown as { handler: { sessions: { size: number } } }).handler.sessions.size, 1);
    await adapter.stop();
  });

  test('stopping with a publish in flight: the late answer is dropped quietly', async () => {
    let release!: () => void;
    const adapter = new CoapAdapter(coapConfigSchema.parse({ port: 0, host: '127.0.0.1', ipv6: { enabled: false } }));
    await adapter.start(stubContext(() => new Promise<void>((r) => (release = r))));
    const sent: Buffer[] = [];
    const link = fakeTransport(sent);
    adapter.attach('link', link);
    link.emit('message', postPs(12, 'late'), { address: '10.0.0.9', port: 40002, family: 'IPv4', size: 0 });
    await until(() => release !== undefined, 'publish started');
    await adapter.stop();
    release();
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(sent.length <= 1, 'nothing but perhaps the empty ACK was sent');
  });
});
