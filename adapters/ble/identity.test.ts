import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FIXTURES } from '../../firmware-sim/ble/fixtures.ts';
import { bleRig, scanning } from './test-kit.ts';

// A BLE device's address is its MAC: the gateway must not take its last byte for a port
// (54:48:e6:00:00:01 is not host 54:48:e6:00:00, port 1).

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
