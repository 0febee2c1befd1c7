import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { until } from '../../gateway/test/helpers.ts';
import { gattDevice } from '../../firmware-sim/ble/fixtures.ts';
import { bleRig, scanning, type BleRig } from './test-kit.ts';

// GATT commands on ble/{id}/dn, answered on ble/{id}/resp, through noble and the simulated
// controller: connect, read, write, subscribe (notifications on ble/{id}/notify), disconnect,
// timeouts and the connection bounds.

const NUS = '6e400001b5a3f393e0a9e50e24dcca9e';
const NUS_RX = '6e400002b5a3f393e0a9e50e24dcca9e';
const NUS_TX = '6e400003b5a3f393e0a9e50e24dcca9e';

async function command(rig: BleRig, id: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
  const before = rig.got.filter((m) => m.topic === `ble/${id}/resp` && m.body.id === body.id).length;
  await rig.client.publishAsync(`ble/${id}/dn`, JSON.stringify(body), { qos: 1 });
  await until(() => rig.got.filter((m) => m.topic === `ble/${id}/resp` && m.body.id === body.id).length > before, `response to ${JSON.stringify(body)}`);
  return rig.got.filter((m) => m.topic === `ble/${id}/resp` && m.body.id === body.id).at(-1)!.body;
}

describe('BLE GATT commands', () => {
  test('read, write, subscribe + notify, unsubscribe, disconnect', async () => {
    const rig = await bleRig({ gatt: { idle_timeout: 0 } });
    try {
      const dev = gattDevice();
      rig.sim.add(dev);
      await scanning(rig.sim);
      rig.sim.advertise(dev);
      const id = 'c0ffee000001';
      await until(() => rig.gw.gw.metrics.snapshot()['adapters/ble/adverts/received'] === 1, 'the advertisement');

      assert.deepEqual(await command(rig, id, { id: 'r1', cmd: 'read', service: '180F', characteristic: '0x2a19' }), { id: 'r1', cmd: 'read', ok: true, data: '61' });
      assert.ok(rig.sim.isConnected(dev.address));
      // Scanning paused for the connection attempt and resumed after it.
      const methods = rig.sim.calls.map((c) => c.method);
      assert.ok(methods.lastIndexOf('stopScanning') < methods.indexOf('connect') && methods.lastIndexOf('startScanning') > methods.indexOf('connect'), methods.join(','));

      assert.deepEqual(await command(rig, id, { id: 'w1', cmd: 'write', service: NUS, characteristic: NUS_RX, data: '01ff', without_response: true }), { id: 'w1', cmd: 'write', ok: true });
      const write = rig.sim.calls.find((c) => c.method === 'write');
      assert.deepEqual(write?.args, [id, NUS, NUS_RX, Buffer.from([0x01, 0xff]), true]);

      assert.deepEqual(await command(rig, id, { id: 's1', cmd: 'subscribe', service: NUS, characteristic: NUS_TX }), { id: 's1', cmd: 'subscribe', ok: true });
      assert.ok(rig.sim.notifyFrom(dev.address, NUS, NUS_TX, Buffer.from('hello')));
      const [n] = await rig.waitFor(/^ble\/c0ffee000001\/notify$/);
      assert.equal(n!.body.data, Buffer.from('hello').toString('hex'));
      assert.equal(n!.body.characteristic, NUS_TX);

      assert.deepEqual(await command(rig, id, { id: 'u1', cmd: 'unsubscribe', service: NUS, characteristic: NUS_TX }), { id: 'u1', cmd: 'unsubscribe', ok: true });
      assert.equal(rig.sim.notifyFrom(dev.address, NUS, NUS_TX, Buffer.from('x')), false);

      assert.deepEqual(await command(rig, id, { id: 'd1', cmd: 'disconnect' }), { id: 'd1', cmd: 'disconnect', ok: true });
      await until(() => !rig.sim.isConnected(dev.address), 'the disconnect');
    } finally {
      await rig.stop();
    }
  });

  test('errors: bad JSON, unknown characteristic, a device never heard, a device that drops the link', async () => {
    const rig = await bleRig({});
    try {
      const dev = gattDevice();
      rig.sim.add(dev);
      await scanning(rig.sim);
      rig.sim.advertise(dev);
      const id = 'c0ffee000001';
      await rig.client.publishAsync(`ble/${id}/dn`, 'not json', { qos: 1 });
      const [bad] = await rig.waitFor(/^ble\/c0ffee000001\/resp$/);
      assert.equal(bad!.body.ok, false);
      assert.match(String(bad!.body.error), /not JSON/);
      const missing = await command(rig, id, { id: 'm', cmd: 'read', service: '180f', characteristic: '2a1a' });
      assert.match(String(missing.error), /no characteristic 2a1a in service 180f/);
      const never = await command(rig, 'c0ffee0000ff', { id: 'n', cmd: 'connect' });
      assert.match(String(never.error), /has not been heard by the scanner/);
      rig.sim.dropConnection(dev.address);
      await until(() => rig.got.some((m) => m.topic === `ble/${id}/resp` && m.body.event === 'disconnected'), 'the disconnected event');
      // The next command connects again.
      assert.equal((await command(rig, id, { id: 'again', cmd: 'read', service: '180f', characteristic: '2a19' })).ok, true);
    } finally {
      await rig.stop();
    }
  });

  test('connect timeout cancels the attempt; max_connections bounds the connections', async () => {
    const rig = await bleRig({ gatt: { max_connections: 1, connect_timeout: '300ms' } });
    try {
      const a = gattDevice();
      const slow = { ...gattDevice(), address: 'C0:FF:EE:00:00:02', unreachable: true };
      const b = { ...gattDevice(), address: 'C0:FF:EE:00:00:03' };
      for (const d of [a, slow, b]) rig.sim.add(d);
      await scanning(rig.sim);
      for (const d of [a, slow, b]) rig.sim.advertise(d);
      await until(() => rig.gw.gw.metrics.snapshot()['adapters/ble/adverts/received'] === 3, 'three advertisements');
      const t = await command(rig, 'c0ffee000002', { id: 't', cmd: 'connect' });
      assert.match(String(t.error), /connect to c0ffee000002 did not finish within 300 ms/);
      assert.ok(rig.sim.calls.some((c) => c.method === 'cancelConnect' && c.args[0] === 'c0ffee000002'));
      assert.equal((await command(rig, 'c0ffee000001', { id: 'c1', cmd: 'connect' })).ok, true);
      const busy = await command(rig, 'c0ffee000003', { id: 'c2', cmd: 'connect' });
      assert.match(String(busy.error), /busy: 1 connections are open/);
      assert.equal((await command(rig, 'c0ffee000001', { id: 'd', cmd: 'disconnect' })).ok, true);
      assert.equal((await command(rig, 'c0ffee000003', { id: 'c3', cmd: 'connect' })).ok, true);
    } finally {
      await rig.stop();
    }
  });

  test('commands for one device run one at a time, in order, over one connection; beyond gatt.max_queued they are refused at once', async () => {
    const rig = await bleRig({ gatt: { max_queued: 2, connect_timeout: '60s' } });
    try {
      // Out of range at first: the first command's connect waits until the test lets it through,
      // so what waits and what is refused does not depend on timing.
      const dev = { ...gattDevice(), unreachable: true };
      rig.sim.add(dev);
      await scanning(rig.sim);
      rig.sim.advertise(dev);
      const id = 'c0ffee000001';
      await until(() => rig.gw.gw.metrics.snapshot()['adapters/ble/adverts/received'] === 1, 'the advertisement');
      for (let n = 1; n <= 5; n++) await rig.client.publishAsync(`ble/${id}/dn`, JSON.stringify({ id: `q${n}`, cmd: 'read', service: '180f', characteristic: '2a19' }), { qos: 1 });
      const answers = () => rig.got.filter((m) => m.topic === `ble/${id}/resp`).map((m) => m.body);
      await until(() => answers().length === 2, 'the two refusals');
      assert.deepEqual(answers().map((b) => [b.id, b.ok]), [['q4', false], ['q5', false]], 'q1 connects, q2 and q3 wait');
      assert.equal(answers()[0]!.error, 'busy: 2 commands already wait for this device (adapters.ble.gatt.max_queued)');
      rig.sim.reachable(dev.address);
      await until(() => answers().length === 5, 'the three reads');
      assert.deepEqual(answers().slice(2).map((b) => [b.id, b.ok, b.data]), [['q1', true, '61'], ['q2', true, '61'], ['q3', true, '61']]);
      assert.equal(rig.sim.calls.filter((c) => c.method === 'connect' && c.args[0] === id).length, 1, 'one connection for all three');
    } finally {
      await rig.stop();
    }
  });
});
