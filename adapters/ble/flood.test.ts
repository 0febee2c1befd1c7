import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
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

/**
 * Advertises, waiting for the scan to be back when the radio is being renewed. One advert per
 * event-loop turn, as reports come off a radio (the renewal runs on a later turn than the advert
 * that triggered it).
 */
async function send(rig: BleRig, d: SimDevice): Promise<void> {
  while (!rig.sim.advertise(d)) await until(() => rig.sim.scanning, 'scanning again');
  await new Promise((r) => setImmediate(r));
}

const metric = (rig: BleRig, name: string) => rig.gw.gw.metrics.snapshot()[`adapters/ble/${name}`] ?? 0;

/** A full garbage collection (v8's gc(), exposed for this process: tests run without --expose-gc). */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

describe('BLE address flood', () => {
  test('50,000 random addresses: noble is stopped and replaced past max_seen_addresses, and every retired instance (with all it remembered) is freed', { timeout: 240_000 }, async () => {
    const rig = await bleRig({ max_seen_addresses: 5000, publish: fast });
    try {
      await scanning(rig.sim);
      for (let i = 1; i <= 50_000; i++) await send(rig, spoof(i));
      await until(() => rig.sim.scanning && metric(rig, 'radio/renewals') === rig.nobles.length - 1, 'the last renewal to finish');
      // Each instance heard 5,001 addresses (the one past the bound triggers the renewal).
      assert.equal(metric(rig, 'radio/renewals'), 9);
      assert.equal(rig.nobles.length, 10);
      // Every retired instance was stopped (its socket closed) and only the current one listens.
      assert.equal(rig.sim.calls.filter((c) => c.method === 'stop').length, 9);
      assert.equal(rig.sim.listenerCount('discover'), 1);
      // noble keeps its peripherals on the instance: a collected instance has released them all.
      // (WeakRef targets stay alive until the current job ends: collect on a later turn.)
      await new Promise((r) => setImmediate(r));
      collectGarbage();
      await new Promise((r) => setImmediate(r));
      const alive = rig.nobles.map((w, i) => (w.deref() ? i : -1)).filter((i) => i >= 0);
      assert.deepEqual(alive, [9], 'only the current noble instance is still reachable');
    } finally {
      await rig.stop();
    }
  });


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
