import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { until } from '../../gateway/test/helpers.ts';
import { FIXTURES } from '../../firmware-sim/ble/fixtures.ts';
import type { SimDevice } from '../../firmware-sim/ble/bindings.ts';
import { bthomeFrame } from '../../firmware-sim/ble/fleet.ts';
import { bleRig, scanning, type BleRig } from './test-kit.ts';

// A neighbour inventing a new address for every advertisement: noble's per-address memory is
// released past max_seen_addresses, and new devices allowed only by format are admitted at
// allow.new_devices_per_minute. Asserts counts (renewals, admissions), not heap sizes.

const fast = { min_interval: 0, heartbeat: 0 };
const spoof = (i: number): SimDevice => {
  const n = i.toString(16).padStart(6, '0');
  return { address: `F2:00:00:${n.slice(0, 2)}:${n.slice(2, 4)}:${n.slice(4)}`, addressType: 'random', rssi: -60, advertisement: { serviceData: [{ uuid: 'fcd2', data: bthomeFrame(i, 21, 40, 99) }] } };
};

/** Advertises, waiting for the scan to be back when the radio is being renewed. */
async function send(rig: BleRig, d: SimDevice): Promise<void> {
  while (!rig.sim.advertise(d)) await until(() => rig.sim.scanning, 'scanning again');
}

const metric = (rig: BleRig, name: string) => rig.gw.gw.metrics.snapshot()[`adapters/ble/${name}`] ?? 0;

describe('BLE address flood', () => {
  test('past max_seen_addresses noble is replaced by a fresh instance; allowed devices keep publishing', async () => {
    const rig = await bleRig({ max_seen_addresses: 100, allow: { addresses: ['CB:B8:33:4C:88:4F'] }, publish: fast });
    try {
      await scanning(rig.sim);
      for (let i = 1; i <= 350; i++) await send(rig, spoof(i));
      // 101st, 202nd and 303rd new address of an instance: three renewals.
      await until(() => metric(rig, 'radio/renewals') === 3 && rig.sim.scanning, 'three renewals');
      await send(rig, FIXTURES.ruuvi);
      await rig.waitFor(/^ble\/cbb8334c884f\/up$/);
      assert.equal(metric(rig, 'radio/renewals'), 3);
      assert.equal(rig.got.some((m) => m.topic.startsWith('ble/f2')), false);
    } finally {
      await rig.stop();
    }
  });

  test('new devices allowed by format are admitted at allow.new_devices_per_minute; the rest are counted', async () => {
    const rig = await bleRig({ allow: { formats: ['bthome'], new_devices_per_minute: 20 }, publish: fast });
    try {
      await scanning(rig.sim);
      for (let i = 1; i <= 300; i++) await send(rig, spoof(i));
      await until(() => metric(rig, 'adverts/admission_limited') + metric(rig, 'messages/published') >= 300, 'every advert handled');
      const published = metric(rig, 'messages/published');
      await rig.waitFor(/\/up$/, published);
      assert.equal(new Set(rig.got.map((m) => m.topic)).size, published, 'one reading per admitted device');
      // One window normally; two if the test straddles a minute boundary.
      assert.ok(published >= 20 && published <= 40, `admitted ${published}`);
      assert.equal(metric(rig, 'adverts/admission_limited'), 300 - published);
    } finally {
      await rig.stop();
    }
  });
});
