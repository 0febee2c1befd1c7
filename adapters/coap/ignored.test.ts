// Issue 17 item 9: a request carried in a Reset or an Acknowledgement is a message format error
// (RFC 7252 4.2: an ACK carries a response or nothing, an RST is always Empty) and is ignored:
// never published, never answered, and an ACK/RST with Block1 never reaches reassembly or logs at
// error level. The device side is built with the test peer's own codec, not coap-packet.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { until } from '../../gateway/test/helpers.ts';
import { ACK, CON, Peer, RST, code, type Msg } from '../lib/coap/peer.test-kit.ts';
import { CoapAdapter } from './adapter.ts';
import { coapConfigSchema } from './config.ts';
import { recordingContext } from './test-support.ts';

test('RST and ACK messages carrying a POST /ps request are ignored: not published, not answered, no Block1 state, no error lines', async () => {
  const { ctx, published, lines, metrics } = recordingContext();
  const adapter = new CoapAdapter(coapConfigSchema.parse({ port: 0, host: '127.0.0.1', ipv6: { enabled: false } }));
  await adapter.start(ctx);
  const port = adapter.ports().udp!;
  const at = { address: '127.0.0.1', port };
  const peer = await Peer.open();
  try {
    const post = (type: number, mid: number, topic: string, extra: [number, Buffer][] = [], payload = Buffer.from('v')): Msg => ({ type, code: code(0, 2), mid, token: Buffer.from([mid]), options: [[11, Buffer.from('ps')], [11, Buffer.from(topic)], [15, Buffer.from('c=x')], ...extra], payload });
    const block0 = [[27, Buffer.from([0x0a])]] as [number, Buffer][]; // Block1 num 0, more, 64 bytes
    for (let i = 0; i < 50; i++) {
      peer.send(post(RST, 1, 'rst'), at);
      peer.send(post(ACK, 2, 'ack'), at);
      peer.send(post(ACK, 3, 'ackblock', block0, Buffer.alloc(64, 1)), at);
      peer.send(post(RST, 4, 'rstblock', block0, Buffer.alloc(64, 2)), at);
    }
    // Positive control: the same request as a CON is published and answered.
    peer.send(post(CON, 5, 'ok'), at);
    await until(() => peer.got.length >= 1, 'the answer to the CON');
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(published.map((p) => p.topic), ['ok']);
    assert.deepEqual(peer.got.map((m) => [m.type, m.mid, m.code]), [[ACK, 5, code(2, 4)]]);
    assert.equal(metrics.snapshot()['adapters/coap/block1/buffered_bytes'], 0);
    assert.deepEqual(lines.filter((l) => l.level >= 50), [], 'nothing at error level');
    assert.ok(metrics.snapshot()['adapters/coap/malformed']! >= 200, 'each one counted as malformed');
  } finally {
    peer.close();
    await adapter.stop();
  }
});
