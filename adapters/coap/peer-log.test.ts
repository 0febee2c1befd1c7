// Issue 17 item 10: a device does not decide how much is written to the log. In connection mode a
// session follows its device to a new source port (NAT rebinding) with an info line; a device
// hopping ports on every request gets one such line per minute per IP address, and the rest are
// counted and written out with the count, at the latest when the adapter stops. Over real UDP.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LogLine } from '../../gateway/test/helpers.ts';
import { startCoap } from './test-support.ts';

const N = 20;

test('a session hopping source ports: one "taken over" line, then "... and N-1 more"', async () => {
  const lines: LogLine[] = [];
  const g = await startCoap({ connection_required: true }, {}, lines);
  const msgs = () => lines.map((l) => l.msg).join('\n');
  try {
    const first = await g.client();
    const created = await first.request({ method: 'POST', path: '/mqtt/connection', query: { c: 'hopper' } });
    assert.equal(created.code, '2.01');
    const t = created.payload.toString();
    for (let i = 0; i < N; i++) {
      const hop = await g.client(); // a new socket: a new source port
      assert.equal((await hop.request({ method: 'POST', path: '/ps/t', query: { c: 'hopper', t }, payload: 'x' })).code, '2.04');
    }
    assert.equal(lines.filter((l) => l.msg === 'CoAP session taken over from a new address').length, 1, msgs());
    // A new source port moves the session, it does not open one: one "connected" line in all.
    assert.equal(lines.filter((l) => l.msg.startsWith('New coap device connected')).length, 1, msgs());
  } finally {
    await g.stop();
  }
  assert.equal(lines.filter((l) => l.msg === `... and ${N - 1} more "address_changed" from 127.0.0.1 in the last 60 s`).length, 1, msgs());
});

test('a heartbeat PUT from a new port takes the session over like /ps: the line, the registry address', async () => {
  const lines: LogLine[] = [];
  const g = await startCoap({ connection_required: true }, {}, lines);
  try {
    const first = await g.client();
    const created = await first.request({ method: 'POST', path: '/mqtt/connection', query: { c: 'nat-dev' } });
    assert.equal(created.code, '2.01');
    const t = created.payload.toString();
    const moved = await g.client(); // the NAT gave the device a new source port
    assert.equal((await moved.request({ method: 'PUT', path: '/mqtt/connection', query: { c: 'nat-dev', t } })).code, '2.04');
    const taken = lines.filter((l) => l.msg === 'CoAP session taken over from a new address');
    assert.equal(taken.length, 1, lines.map((l) => l.msg).join('\n'));
    assert.equal(taken[0]!.address, `127.0.0.1:${moved.socket.address().port}`);
    assert.equal(g.gw.registry.get('coap', 'nat-dev')?.address, `127.0.0.1:${moved.socket.address().port}`);
  } finally {
    await g.stop();
  }
});
