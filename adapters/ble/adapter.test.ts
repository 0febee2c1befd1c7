import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { until } from '../../gateway/test/helpers.ts';
import { BINDKEY, BTHOME_READINGS, FIXTURES } from '../../firmware-sim/ble/fixtures.ts';
import type { SimDevice } from '../../firmware-sim/ble/bindings.ts';
import { bleRig, scanning } from './test-kit.ts';

// The BLE adapter end to end: simulated controller (noble's bindings seam) -> noble -> adapter ->
// gateway -> a real MQTT subscriber. Waits on conditions only.

const fast = { min_interval: 0, heartbeat: 0 };
const bthome = (data: Buffer): SimDevice => ({ ...FIXTURES.bthome, advertisement: { serviceData: [{ uuid: 'fcd2', data }] } });

describe('BLE adapter', () => {
  test('scans with duplicates allowed; publishes only allowlisted addresses and formats', async () => {
    const rig = await bleRig({ allow: { addresses: ['CB:B8:33:4C:88:4F'], formats: ['pvvx'] }, publish: fast });
    try {
      await scanning(rig.sim);
      const start = rig.sim.calls.find((c) => c.method === 'startScanning');
      assert.deepEqual(start?.args, [[], true]);
      for (const d of [FIXTURES.phone, FIXTURES.bthome, FIXTURES.ibeacon, FIXTURES.ruuvi, FIXTURES.pvvx]) rig.sim.advertise(d);
      const [ruuvi] = await rig.waitFor(/^ble\/cbb8334c884f\/up$/);
      const [pvvx] = await rig.waitFor(/^ble\/a4c138001122\/up$/);
      assert.deepEqual({ ...ruuvi!.body, ts: 0 }, {
        tempc: 24.3, hum: 53.49, pres: 1000.44, accx: 0.039, accy: -0.039, accz: 10.16, volt: 2.977, tx: 4, mov: 66, seq: 205,
        mac: 'CB:B8:33:4C:88:4F', tempf: 75.74, rssi: -72, format: 'ruuvi5', ts: 0,
      });
      assert.equal(typeof ruuvi!.body.ts, 'number');
      assert.equal(pvvx!.body.format, 'pvvx');
      assert.equal(pvvx!.body.tempc, 23.45);
      // Sentinel: a later allowed reading arrives, so the earlier unallowed ones had their chance.
      rig.sim.advertise({ ...FIXTURES.ruuvi, advertisement: { manufacturerData: Buffer.from('99040512FC5394C37C0004FFFC040CAC364200CECBB8334C884F', 'hex') } });
      await rig.waitFor(/^ble\/cbb8334c884f\/up$/, 2);
      assert.deepEqual([...new Set(rig.got.map((m) => m.topic))].sort(), ['ble/a4c138001122/up', 'ble/cbb8334c884f/up']);
    } finally {
      await rig.stop();
    }
  });

  test('change-only: repeats of the same reading are not published; each change is', async () => {
    const rig = await bleRig({ allow: { formats: ['bthome'] }, publish: fast });
    try {
      await scanning(rig.sim);
      const seq = [BTHOME_READINGS.t2506, BTHOME_READINGS.t2506, BTHOME_READINGS.t2506, BTHOME_READINGS.t2500, BTHOME_READINGS.t2500, BTHOME_READINGS.t2506];
      for (const r of seq) rig.sim.advertise(bthome(r));
      const msgs = await rig.waitFor(/^ble\/5448e68f80a5\/up$/, 3);
      // A different sensor as a sentinel: everything advertised before it has been handled.
      rig.sim.advertise({ ...FIXTURES.pvvx });
      rig.sim.advertise(bthome(BTHOME_READINGS.t2500));
      await rig.waitFor(/^ble\/5448e68f80a5\/up$/, 4);
      assert.deepEqual(rig.got.filter((m) => m.topic === 'ble/5448e68f80a5/up').map((m) => m.body.tempc), [25.06, 25, 25.06, 25]);
      assert.equal(msgs.length >= 3, true);
    } finally {
      await rig.stop();
    }
  });

  test('BTHome packet id: the same id again is a repeat and dropped, even with change_only off', async () => {
    const rig = await bleRig({ allow: { formats: ['bthome'] }, publish: { ...fast, change_only: false } });
    try {
      await scanning(rig.sim);
      for (const r of [BTHOME_READINGS.withPacket9, BTHOME_READINGS.withPacket9, BTHOME_READINGS.withPacket10]) rig.sim.advertise(bthome(r));
      await rig.waitFor(/^ble\/5448e68f80a5\/up$/, 2);
      rig.sim.advertise(bthome(BTHOME_READINGS.withPacket9));
      await rig.waitFor(/^ble\/5448e68f80a5\/up$/, 3);
      assert.deepEqual(rig.got.map((m) => m.body.packet), [9, 10, 9]);
    } finally {
      await rig.stop();
    }
  });

  test('encrypted BTHome: right key decodes; a replayed counter and a downgrade are dropped', async () => {
    const rig = await bleRig({ devices: { '54:48:E6:8F:80:A5': { bindkey: BINDKEY } }, allow: { addresses: ['CB:B8:33:4C:88:4F'] }, publish: { ...fast, change_only: false } });
    try {
      await scanning(rig.sim);
      rig.sim.advertise(FIXTURES.bthomeEncrypted);
      const [m] = await rig.waitFor(/^ble\/5448e68f80a5\/up$/);
      assert.equal(m!.body.tempc, 25.06);
      assert.equal(m!.body.hum, 50.55);
      assert.equal(m!.body.format, 'bthome');
      rig.sim.advertise(FIXTURES.bthomeEncrypted); // same counter: replay
      rig.sim.advertise(FIXTURES.bthome); // unencrypted from a device with a key: downgrade
      rig.sim.advertise(FIXTURES.ruuvi); // sentinel
      await rig.waitFor(/^ble\/cbb8334c884f\/up$/);
      assert.equal(rig.got.filter((x) => x.topic === 'ble/5448e68f80a5/up').length, 1);
    } finally {
      await rig.stop();
    }
  });

  test('encrypted BTHome with a wrong key publishes nothing for it', async () => {
    const rig = await bleRig({ devices: { '54:48:E6:8F:80:A5': { bindkey: '00112233445566778899aabbccddeeff' } }, allow: { addresses: ['CB:B8:33:4C:88:4F'] }, publish: fast });
    try {
      await scanning(rig.sim);
      rig.sim.advertise(FIXTURES.bthomeEncrypted);
      rig.sim.advertise(FIXTURES.ruuvi);
      await rig.waitFor(/^ble\/cbb8334c884f\/up$/);
      assert.deepEqual(rig.got.map((m) => m.topic), ['ble/cbb8334c884f/up']);
      const snap = rig.gw.gw.metrics.snapshot();
      assert.equal(snap['adapters/ble/adverts/decode_errors'], 1);
    } finally {
      await rig.stop();
    }
  });

  test('presence: online when heard, offline after presence_timeout, in the registry and $SYS', async () => {
    // Several seconds: online must still hold after an MQTT round trip on a loaded machine; until() waits for offline.
    const rig = await bleRig({ allow: { formats: ['ruuvi5'] }, presence_timeout: '4s', publish: fast }, { subscribe: ['ble/#', '$SYS/brokers/+/gateway/ble/clients/#'] });
    try {
      await scanning(rig.sim);
      rig.sim.advertise(FIXTURES.ruuvi);
      const [on] = await rig.waitFor(/^\$SYS\/brokers\/[^/]+\/gateway\/ble\/clients\/cbb8334c884f\/connected$/);
      assert.equal(on!.body.clientid, 'cbb8334c884f');
      assert.equal(rig.gw.gw.registry.get('ble', 'cbb8334c884f')?.online, true);
      const [off] = await rig.waitFor(/^\$SYS\/brokers\/[^/]+\/gateway\/ble\/clients\/cbb8334c884f\/disconnected$/);
      assert.equal(off!.body.reason, 'presence_timeout');
      assert.equal(rig.gw.gw.registry.get('ble', 'cbb8334c884f')?.online, false);
      rig.sim.advertise(FIXTURES.ruuvi);
      await rig.waitFor(/\/cbb8334c884f\/connected$/, 2);
    } finally {
      await rig.stop();
    }
  });

  test('a user decoder that loops is reported and the adapter keeps publishing', async () => {
    const { tempDir } = await import('../../gateway/test/helpers.ts');
    const { writeFileSync } = await import('node:fs');
    const dir = tempDir('fieldgate-ble-user-');
    const file = `${dir.path}/loop.js`;
    writeFileSync(file, 'module.exports = function (input) { if (input.bytes[2] === 0xff) { for (;;) {} } return { level: input.bytes[2] }; };\n');
    // The looping call and the adapter's next publish do not share a time limit: the next reading
    // is a built-in format (no vm), so nothing here bets on how fast a loaded machine runs.
    const rig = await bleRig({ user_decoders: [{ name: 'looper', file, manufacturer_id: 0x0059 }], user_decoder_time_limit: '100ms', allow: { formats: ['looper', 'ruuvi5'] }, publish: fast });
    try {
      await scanning(rig.sim);
      rig.sim.advertise({ address: 'C0:FF:EE:00:00:09', rssi: -40, advertisement: { manufacturerData: Buffer.from([0x59, 0x00, 0xff]) } });
      rig.sim.advertise(FIXTURES.ruuvi);
      const [m] = await rig.waitFor(/^ble\/cbb8334c884f\/up$/);
      assert.equal(m!.body.format, 'ruuvi5');
      assert.equal(rig.gw.gw.metrics.snapshot()['adapters/ble/user_decoders/timeouts'], 1);
      assert.equal(rig.got.some((x) => x.topic.startsWith('ble/c0ffee000009/')), false);
    } finally {
      await rig.stop();
      dir.remove();
    }
  });
});
