// LwM2M over a datagram transport provided by another adapter (as the modem adapter provides its
// NB-IoT socket): the real LwM2M adapter and gateway, a stand-in modem adapter relaying a real UDP
// socket with a 512-byte limit, and the simulated LwM2M device (firmware-sim/lwm2m) behind it.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { MqttClient } from 'mqtt';
import { SimDevice } from '../../firmware-sim/lwm2m/device.ts';
import { relayModemAdapter } from '../../gateway/test/datagram-pair.ts';
import { connect, endClient, startGateway, until, type TestGateway } from '../../gateway/test/helpers.ts';
import { lwm2mAdapter } from './index.ts';

describe('LwM2M over a provided datagram transport', () => {
  const nb0 = relayModemAdapter('nb0', 'lwm2m', 512);
  let g: TestGateway;
  let mqtt: MqttClient;
  const got: { topic: string; json: Record<string, unknown> }[] = [];
  const devices: SimDevice[] = [];
  const next = async (topic: string, pred: (j: Record<string, unknown>) => boolean) => {
    let found: { json: Record<string, unknown> } | undefined;
    await until(() => (found = got.find((m) => m.topic === topic && pred(m.json))) !== undefined, `a message on ${topic}`);
    return found!.json;
  };
  before(async () => {
    // A device behind a modem is never loopback, whatever address the relay reports: an ACL rule lets it in.
    g = await startGateway({ auth: { allow_anonymous: 'always', acl: [{ permission: 'allow', action: 'all', topics: ['lwm2m/#'] }] }, adapters: { lwm2m: { enabled: true, port: 0, host: '127.0.0.1', ipv6: { enabled: false } }, 'relay-nb0': { enabled: true } } }, [lwm2mAdapter, nb0.def], { backoffInitial: 20, backoffMax: 50 });
    mqtt = await connect(g.url);
    mqtt.on('message', (topic, payload) => got.push({ topic, json: JSON.parse(payload.toString()) as Record<string, unknown> }));
    await mqtt.subscribeAsync('lwm2m/#', { qos: 1 });
  });
  after(async () => {
    for (const d of devices) d.close();
    await endClient(mqtt);
    await g.stop();
  });

  test('a device registers through the transport and answers a read command sent back through it', async () => {
    const d = await SimDevice.create({ host: '127.0.0.1', port: nb0.current().port, ep: 'nb-meter-1' });
    devices.push(d);
    assert.equal(await d.register(), '2.01');
    const reg = await next('lwm2m/nb-meter-1/up/resp', (j) => j.msgType === 'register');
    assert.equal((reg.data as { ep: string }).ep, 'nb-meter-1');
    mqtt.publish('lwm2m/nb-meter-1/dn/dm', JSON.stringify({ reqID: 1, msgType: 'read', data: { path: '/3/0/1' } }), { qos: 1 });
    const read = await next('lwm2m/nb-meter-1/up/resp', (j) => j.reqID === 1 && j.msgType === 'read');
    assert.deepEqual(read.data, { reqPath: '/3/0/1', code: '2.05', codeMsg: 'content', content: [{ path: '/3/0/1', value: 'lwm2m-sim-1' }] });
    assert.ok(d.received.some((r) => r.method === 'GET'), 'the read reached the device through the relay');
    assert.ok(Math.max(...nb0.current().sent.map((b) => b.length)) <= 512);
  });

  test('after the modem restarts under the same name, commands reach the registered device again', async () => {
    const first = nb0.current();
    nb0.fail(new Error('modem reset'));
    await until(() => nb0.current() !== first && g.gw.health().every((h) => h.state === 'running'), 'modem restarted');
    // The registration names the transport (nb0), not the instance: the new relay carries the
    // command to the device's address without the device registering again.
    mqtt.publish('lwm2m/nb-meter-1/dn/dm', JSON.stringify({ reqID: 2, msgType: 'read', data: { path: '/3/0/1' } }), { qos: 1 });
    const read = await next('lwm2m/nb-meter-1/up/resp', (j) => j.reqID === 2 && j.msgType === 'read');
    assert.equal((read.data as { code: string }).code, '2.05');
    assert.ok(nb0.current().sent.length >= 1, 'sent through the new instance');
  });
});
