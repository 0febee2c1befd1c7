import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FIXTURES } from '../../firmware-sim/ble/fixtures.ts';
import { bleRig, scanning } from './test-kit.ts';

// Also: a decoded advertisement without readings is not published as an empty one.

// A BLE device's address is its MAC: the gateway must not take its last byte for a port
// (54:48:e6:00:00:01 is not host 54:48:e6:00:00, port 1).

test('a payload that decodes but carries no reading is not published', async () => {
  const rig = await bleRig({ allow: { formats: ['bthome', 'ruuvi5'] }, publish: { min_interval: 0, heartbeat: 0 } });
  try {
    await scanning(rig.sim);
    const bthome = (hex: string) => ({ ...FIXTURES.bthome, advertisement: { serviceData: [{ uuid: 'fcd2', data: Buffer.from(hex, 'hex') }] } });
    rig.sim.advertise(bthome('40')); // no objects
    rig.sim.advertise(bthome('400009')); // a packet id only
    // RuuviTag format 5 with every field at its "not available" value (ruuvi-docs).
    rig.sim.advertise({ ...FIXTURES.ruuvi, advertisement: { manufacturerData: Buffer.from('9904058000ffffffff800080008000ffffffffffcbb8334c884f', 'hex') } });
    rig.sim.advertise(FIXTURES.pvvx);
    rig.sim.advertise(bthome('40000a02c409')); // packet 10, 25.00 °C: a reading
    await rig.waitFor(/^ble\/5448e68f80a5\/up$/);
    assert.equal(rig.gw.gw.metrics.snapshot()['adapters/ble/adverts/no_readings'], 3);
    assert.deepEqual(rig.got.map((m) => m.topic), ['ble/5448e68f80a5/up']);
    assert.equal(rig.got[0]!.body.tempc, 25);
  } finally {
    await rig.stop();
  }
});

test('the $SYS connected event and the registry carry the full MAC address', async () => {
  const rig = await bleRig({ allow: { addresses: ['54:48:E6:00:00:01'] }, publish: { min_interval: 0, heartbeat: 0 } }, { subscribe: ['ble/#', '$SYS/brokers/+/gateway/ble/clients/#'] });
  try {
    await scanning(rig.sim);
    rig.sim.advertise({ ...FIXTURES.ruuvi, address: '54:48:E6:00:00:01' });
    const [on] = await rig.waitFor(/^\$SYS\/brokers\/[^/]+\/gateway\/ble\/clients\/5448e6000001\/connected$/);
    assert.equal(on!.body.ipaddress, '54:48:e6:00:00:01');
    assert.equal(rig.gw.gw.registry.get('ble', '5448e6000001')?.address, '54:48:e6:00:00:01');
  } finally {
    await rig.stop();
  }
});
