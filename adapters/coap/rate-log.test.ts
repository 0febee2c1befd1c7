// Issue 18 item 2: rate limiting is visible. A peer over its per-address budget gets 4.29, each
// refusal is counted (rate_limited), and the log gets one line, not one per request; the rest
// are summed up in the next line ("... and N more ... in the last 60 s").
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { until } from '../../gateway/test/helpers.ts';
import { CON, Peer, code } from '../lib/coap/peer.test-kit.ts';
import { CoapAdapter } from './adapter.ts';
import { coapConfigSchema } from './config.ts';
import { recordingContext } from './test-support.ts';

test('rate limiting: 4.29 per refused CON, a counter, and one log line for the burst with the rest summed up', async () => {
  const { ctx, lines, metrics } = recordingContext();
  const adapter = new CoapAdapter(coapConfigSchema.parse({ port: 0, host: '127.0.0.1', ipv6: { enabled: false }, limits: { rate: 1, burst: 5 } }));
  await adapter.start(ctx);
  const at = { address: '127.0.0.1', port: adapter.ports().udp! };
  const peer = await Peer.open();
  try {
    for (let i = 0; i < 40; i++) peer.send({ type: CON, code: code(0, 2), mid: i, token: Buffer.from([i]), options: [[11, Buffer.from('ps')], [11, Buffer.from('rl')]], payload: Buffer.from('v') }, at);
    await until(() => peer.got.length === 40, 'an answer to each');
    const refused = peer.got.filter((m) => m.code === code(4, 29)).length;
    assert.ok(refused >= 30, `${refused} refused`);
    assert.equal(metrics.snapshot()['adapters/coap/rate_limited'], refused);
    const rl = () => lines.filter((l) => /rate limit/.test(l.msg));
    assert.equal(rl().length, 1, 'one line for the burst');
    assert.match(rl()[0]!.msg, /127\.0\.0\.1 refused over the per-address rate limit \(limits\.rate 1\/s, burst 5\)/);
    assert.equal(rl()[0]!.level, 40, 'warn');
    await adapter.stop(); // what was held back is written out
    assert.equal(rl().length, 2);
    assert.match(rl()[1]!.msg, new RegExp(`^\\.\\.\\. and ${refused - 1} more CoAP requests refused over the per-address rate limit \\(limits\\.rate 1/s\\) in the last 60 s$`));
  } finally {
    peer.close();
    await adapter.stop();
  }
});
