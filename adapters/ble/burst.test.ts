import assert from 'node:assert/strict';
import { test } from 'node:test';
import { until } from '../../gateway/test/helpers.ts';
import type { SimDevice } from '../../firmware-sim/ble/bindings.ts';
import { bthomeFrame } from '../../firmware-sim/ble/fleet.ts';
import { bleRig, scanning } from './test-kit.ts';

// 5,000 new allowed devices heard in one event-loop turn (a site's first scan, or a flood): the
// process survives (without the adapter's queue aedes' emitter overflowed the stack), the first
// 4,096 adverts (the queue's bound) are published and the rest are counted as dropped.

const device = (i: number): SimDevice => {
  const n = i.toString(16).padStart(4, '0');
  return { address: `54:48:E6:01:${n.slice(0, 2)}:${n.slice(2)}`, rssi: -60, advertisement: { serviceData: [{ uuid: 'fcd2', data: bthomeFrame(1, 20 + i / 100, 40, 90) }] } };
};

test('a burst of 5,000 new allowed devices in one turn: no stack overflow, bounded queue, drops counted', async () => {
  const rig = await bleRig({ allow: { formats: ['bthome'], new_devices_per_minute: 5000 }, publish: { min_interval: 0, heartbeat: 0} });
  try {
    await scanning(rig.sim);
    for (let i = 1; i <= 5000; i++) rig.sim.advertise(device(i));
    const snap = () => rig.gw.gw.metrics.snapshot();
    await until(() => (snap()['adapters/ble/messages/published'] ?? 0) + (snap()['adapters/ble/adverts/queue_dropped'] ?? 0) >= 5000, 'every advert published or dropped', 60_000);
    assert.equal(snap()['adapters/ble/adverts/queue_dropped'], 5000 - 4096);
    assert.equal(snap()['adapters/ble/messages/published'], 4096);
  } finally {
    await rig.stop();
  }
});
