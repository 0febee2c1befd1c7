// Issue 18 item 5: a refused CoAP login is not silent (and a bind failure names its option). Each (address, reason) gets one warning
// naming the device, its address and why; repeats within the minute are counted and summed up
// in the next line ("... and N more ... in the last 60 s"), so a device retrying cannot flood the log.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CoapClient } from '../../firmware-sim/coap/client.ts';
import { CoapAdapter } from './adapter.ts';
import { coapConfigSchema } from './config.ts';
import { recordingContext } from './test-support.ts';

test('refused logins (connection mode and per-request credentials) log one rate-limited warning per address and reason', async () => {
  const { ctx, lines, metrics } = recordingContext();
  ctx.messages.authenticate = async () => ({ ok: false, reason: 'bad_username_or_password', detail: 'bad username or password for alice' });
  const adapter = new CoapAdapter(coapConfigSchema.parse({ port: 0, host: '127.0.0.1', ipv6: { enabled: false } }));
  await adapter.start(ctx);
  const cl = await CoapClient.open('127.0.0.1', adapter.ports().udp!);
  const refused = () => lines.filter((l) => /refused/.test(l.msg));
  try {
    for (let i = 0; i < 3; i++) {
      assert.equal((await cl.request({ method: 'POST', path: '/mqtt/connection', query: { c: 'd1', u: 'alice', p: 'wrong' } })).code, '4.01');
    }
    // Per-request credentials (no connection mode) go through the same line and limit.
    assert.equal((await cl.request({ method: 'POST', path: '/ps/t', query: { c: 'd1', u: 'alice', p: 'wrong' }, payload: 'x' })).code, '4.01');
    assert.equal(metrics.snapshot()['adapters/coap/auth/failed'], 4);
    assert.equal(refused().length, 1, 'one line for the repeats');
    assert.equal(refused()[0]!.level, 40, 'warn');
    assert.match(refused()[0]!.msg, /^CoAP device d1 from 127\.0\.0\.1:\d+ refused: bad username or password for alice$/);
    await adapter.stop(); // what was held back is written out
    assert.equal(refused().length, 2);
    assert.equal(refused()[1]!.msg, '... and 3 more CoAP logins refused from 127.0.0.1 (bad_username_or_password) in the last 60 s');
  } finally {
    cl.close();
    await adapter.stop();
  }
});

test('a UDP port in use: the error names adapters.coap.port', async () => {
  const { createSocket } = await import('node:dgram');
  const taken = createSocket('udp4');
  await new Promise<void>((r) => taken.bind(0, '127.0.0.1', r));
  const { ctx } = recordingContext();
  const adapter = new CoapAdapter(coapConfigSchema.parse({ port: taken.address().port, host: '127.0.0.1', ipv6: { enabled: false } }));
  try {
    await assert.rejects(adapter.start(ctx), new RegExp(`EADDRINUSE.*\\(adapters\\.coap\\.port ${taken.address().port}, adapters\\.coap\\.host 127\\.0\\.0\\.1: another process holds it`));
  } finally {
    await adapter.stop();
    taken.close();
  }
});
