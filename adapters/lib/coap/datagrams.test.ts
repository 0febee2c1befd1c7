import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DatagramTransport } from '../../../gateway/core/datagram.ts';
import { ServiceRegistry } from '../../../gateway/core/services.ts';
import { memoryDatagram } from '../../../gateway/test/datagram-pair.ts';
import { followDatagrams } from './datagrams.ts';

test('one endpoint per transport name: instances are switched in under it; other protocols are ignored', async () => {
  const reg = new ServiceRegistry();
  const consumer = reg.scoped({ name: 'coap', uses: ['datagram/'] });
  const log: string[] = [];
  const attached: DatagramTransport[] = [];
  const stop = followDatagrams(consumer, 'coap', {
    attach: (t) => (attached.push(t), `ep${attached.length}`),
    detach: (ep, name, why) => log.push(`detach ${ep} ${name}: ${why}`),
    changed: (name, up, why) => log.push(`${name} ${up ? 'up' : 'down'}: ${why}`),
  });
  const got: string[] = [];
  const run1 = reg.scoped({ name: 'modem', provides: ['datagram/'] });
  const a = memoryDatagram({ name: 'nb0', protocol: 'coap', maxDatagram: 512 });
  run1.provide('datagram/nb0', a.transport);
  run1.provide('datagram/nb9', memoryDatagram({ name: 'nb9', protocol: 'lwm2m' }).transport);
  assert.equal(attached.length, 1, 'the lwm2m transport is not ours');
  const sw = attached[0]!;
  assert.equal(sw.name, 'nb0');
  assert.equal(sw.maxDatagram, 512);
  sw.onMessage((buf) => got.push(buf.toString()));
  const dev = a.device('10.64.1.7', 5683);
  dev.send(Buffer.from('one'));
  await sw.send(Buffer.from('reply'), 5683, '10.64.1.7');
  await new Promise((r) => setImmediate(r)); // memoryDatagram delivers on the next turn, as real I/O

  run1.close(); // the modem's run ended
  await assert.rejects(sw.send(Buffer.from('x'), 5683, '10.64.1.7'), /nb0 is gone until its provider provides it again/);
  const run2 = reg.scoped({ name: 'modem', provides: ['datagram/'] });
  const b = memoryDatagram({ name: 'nb0', protocol: 'coap', maxDatagram: 512 });
  run2.provide('datagram/nb0', b.transport);
  assert.equal(attached.length, 1, 'the same endpoint serves the new instance');
  const dev2 = b.device('10.64.1.7', 5683);
  dev2.send(Buffer.from('two'));
  await sw.send(Buffer.from('reply2'), 5683, '10.64.1.7');
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(got, ['one', 'two']);
  assert.deepEqual([dev.received.map(String), dev2.received.map(String)], [['reply'], ['reply2']]);

  // The instance closing by itself (its socket died) is "gone" too; a new size means a new endpoint.
  await b.transport.close('socket closed by the network');
  run2.provide('datagram/nb0', memoryDatagram({ name: 'nb0', protocol: 'coap', maxDatagram: 1358 }).transport);
  assert.equal(attached.length, 2);
  assert.equal(attached[1]!.maxDatagram, 1358);
  stop();
  assert.equal(attached[1]!.closed, true);
  assert.deepEqual(log, [
    'nb0 down: withdrawn by its provider',
    'nb0 up: provided again',
    'nb0 down: closed: socket closed by the network',
    'detach ep1 nb0: its datagram size changed to 1358 bytes',
    'detach ep2 nb0: adapter stopping',
  ]);
});
