// CoAP over a datagram transport provided by another adapter (as the modem adapter provides its
// NB-IoT socket): the real CoAP adapter and gateway, a stand-in modem adapter that relays a real UDP
// socket with a 512-byte datagram limit (a BC95's), and firmware-sim's CoAP client as the device.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CoapClient, type CoapResponse } from '../../firmware-sim/coap/client.ts';
import { relayModemAdapter } from '../../gateway/test/datagram-pair.ts';
import { collect, connect, endClient, startGateway, until, type TestGateway } from '../../gateway/test/helpers.ts';
import { decodeBlock, encodeBlock } from '../lib/coap/index.ts';
import { coapAdapter } from './index.ts';

describe('CoAP over a provided datagram transport', () => {
  const nb0 = relayModemAdapter('nb0', 'coap', 512);
  const other = relayModemAdapter('nb1', 'lwm2m', 512);
  let g: TestGateway;
  const clients: CoapClient[] = [];
  const device = async (port: number) => {
    const c = await CoapClient.open('127.0.0.1', port);
    clients.push(c);
    return c;
  };
  before(async () => {
    // The modems are listed after coap: the supervisor starts providers first anyway.
    g = await startGateway(
      // A device behind a modem is never loopback, whatever address the relay reports: an ACL rule lets it in.
      { auth: { allow_anonymous: 'always', acl: [{ permission: 'allow', action: 'all', topics: ['nb/#'] }] }, adapters: { coap: { enabled: true, port: 0, host: '127.0.0.1', ipv6: { enabled: false } }, 'relay-nb0': { enabled: true }, 'relay-nb1': { enabled: true } } },
      [coapAdapter, nb0.def, other.def],
      { backoffInitial: 20, backoffMax: 50 },
    );
  });
  after(async () => {
    for (const c of clients) c.close();
    await g.stop();
  });

  test('a CON publish through the transport is published and ACKed piggy-backed, same message id and token', async () => {
    const sub = await connect(g.url);
    await sub.subscribeAsync('nb/meter/1', { qos: 1 });
    const got = collect(sub, 1);
    const cl = await device(nb0.current().port);
    const token = Buffer.from('a1b2c3d4', 'hex');
    const res = await cl.request({ method: 'POST', path: '/ps/nb/meter/1', query: { c: 'meter-1', qos: 1 }, payload: '{"kwh":12.5}', token });
    // CoapClient resolves an ACK only when its message id matches the request's.
    assert.equal(res.type, 'ACK', 'piggy-backed in the ACK');
    assert.equal(res.code, '2.04');
    assert.deepEqual(res.token, token);
    assert.deepEqual(await got, [{ topic: 'nb/meter/1', payload: '{"kwh":12.5}' }]);
    assert.ok(nb0.current().sent.length >= 1, 'the reply left through the transport');
    await endClient(sub);
  });

  test('a notification larger than the datagram limit goes as Block2 within 512 bytes', async () => {
    const cl = await device(nb0.current().port);
    const notes: CoapResponse[] = [];
    cl.on('notification', (n: CoapResponse) => notes.push(n));
    const reg = await cl.request({ method: 'GET', path: '/ps/nb/cmd', query: { c: 'meter-2' }, observe: 0 });
    assert.equal(reg.code, '2.05');
    const pub = await connect(g.url);
    const big = Buffer.alloc(2000, 'x');
    await pub.publishAsync('nb/cmd', big, { qos: 0 });
    await until(() => notes.length === 1, 'notification through the transport');
    const block = decodeBlock(notes[0]!.option('Block2')!);
    assert.ok(typeof block === 'object' && block.more && block.num === 0, 'first block, more to come');
    assert.ok(notes[0]!.payload.length <= 256, `block of ${notes[0]!.payload.length} bytes`);
    // The rest is read block by block (RFC 7959 3.4), each through the transport.
    let body = notes[0]!.payload;
    for (let num = 1; ; num++) {
      const r = await cl.request({ method: 'GET', path: '/ps/nb/cmd', query: { c: 'meter-2' }, options: [{ name: 'Block2', value: encodeBlock({ num, more: false, szx: block.szx }) }] });
      body = Buffer.concat([body, r.payload]);
      const b = decodeBlock(r.option('Block2')!);
      if (typeof b !== 'object' || !b.more) break;
    }
    assert.deepEqual(body, big);
    assert.ok(Math.max(...nb0.current().sent.map((b) => b.length)) <= 512, 'every datagram within maxDatagram');
    assert.equal(nb0.current().refused, 0);
    await endClient(pub);
  });

  test('a transport of another protocol is left alone', async () => {
    const cl = await device(other.current().port);
    await assert.rejects(cl.request({ method: 'POST', path: '/ps/x', query: { c: 'm3' }, payload: 'p', timeoutMs: 300, retransmit: false }), /no response/);
    assert.equal(other.current().sent.length, 0);
  });

  test('when the modem restarts, the new transport is served and earlier observations carry on', async () => {
    const watcher = await device(nb0.current().port);
    const notes: CoapResponse[] = [];
    watcher.on('notification', (n: CoapResponse) => notes.push(n));
    assert.equal((await watcher.request({ method: 'GET', path: '/ps/nb/valve', query: { c: 'meter-5' }, observe: 0 })).code, '2.05');
    const first = nb0.current();
    nb0.fail(new Error('modem reset'));
    await until(() => nb0.current() !== first && g.gw.health().every((h) => h.state === 'running'), 'modem restarted');
    assert.equal(first.transport.closed, true);
    const cl = await device(nb0.current().port);
    const res = await cl.request({ method: 'POST', path: '/ps/nb/meter/1', query: { c: 'meter-1' }, payload: 'again' });
    assert.equal(res.code, '2.04');
    // The device did not move: its observation, made through the old instance, is served through the new one.
    const pub = await connect(g.url);
    await pub.publishAsync('nb/valve', 'closed', { qos: 0 });
    await until(() => notes.some((n) => n.payload.toString() === 'closed'), 'notification through the new instance');
    await endClient(pub);
  });
});
