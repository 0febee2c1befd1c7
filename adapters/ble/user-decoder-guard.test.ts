import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { tempDir, until } from '../../gateway/test/helpers.ts';
import { BTHOME_READINGS, FIXTURES } from '../../firmware-sim/ble/fixtures.ts';
import type { SimDevice } from '../../firmware-sim/ble/bindings.ts';
import { bleRig, scanning, type BleRig } from './test-kit.ts';

// A neighbour cannot make user decoders run on its adverts unless the decoder's format (or the
// address) is allowed, and a decoder that keeps timing out is disabled (or skips the address).

const fast = { min_interval: 0, heartbeat: 0 };
const dir = tempDir('fieldgate-ble-guard-');
after(() => dir.remove());
const file = (name: string, src: string) => {
  const f = `${dir.path}/${name}.js`;
  writeFileSync(f, src);
  return f;
};
const looper = file('looper', 'module.exports = function (input) { if (input.bytes[2] === 0xff) { for (;;) {} } return { level: input.bytes[2] }; };\n');
const nordic = (address: string, b: number): SimDevice => ({ address, rssi: -40, advertisement: { manufacturerData: Buffer.from([0x59, 0x00, b]) } });
const metric = (rig: BleRig, name: string) => rig.gw.gw.metrics.snapshot()[`adapters/ble/${name}`] ?? 0;

/** Waits until the listed Ruuvi's n-th reading is published: everything advertised before it was handled. */
async function sentinel(rig: BleRig, n: number): Promise<void> {
  const seq = (205 + n).toString(16).padStart(4, '0');
  rig.sim.advertise({ ...FIXTURES.ruuvi, advertisement: { manufacturerData: Buffer.from(`99040512FC5394C37C0004FFFC040CAC3642${seq}CBB8334C884F`, 'hex') } });
  await rig.waitFor(/^ble\/cbb8334c884f\/up$/, n);
}

describe('user decoders and the allowlist', () => {
  test('a user decoder whose format is not allowed does not run for an address that is not listed', async () => {
    // "mine" claims BTHome's UUID; were it run, it would win over the built-in and its format is not allowed.
    const mine = file('mine', 'module.exports = (i) => ({ len: i.bytes.length });\n');
    const rig = await bleRig({ user_decoders: [{ name: 'mine', file: mine, service_uuid: 'fcd2' }], allow: { formats: ['bthome'] }, publish: fast });
    try {
      await scanning(rig.sim);
      rig.sim.advertise({ ...FIXTURES.bthome, advertisement: { serviceData: [{ uuid: 'fcd2', data: BTHOME_READINGS.t2506 }] } });
      const [m] = await rig.waitFor(/^ble\/5448e68f80a5\/up$/);
      assert.equal(m!.body.format, 'bthome');
      assert.equal(m!.body.tempc, 25.06);
    } finally {
      await rig.stop();
    }
  });

  test('circuit breaker: after `timeouts` timeouts the decoder is disabled for the cooldown', async () => {
    const rig = await bleRig({
      user_decoders: [{ name: 'looper', file: looper, manufacturer_id: 0x0059 }], user_decoder_time_limit: '50ms',
      user_decoder_breaker: { timeouts: 3, address_timeouts: 100, window: '10m', cooldown: '10m' },
      allow: { formats: ['looper'], addresses: ['CB:B8:33:4C:88:4F'] }, publish: fast,
    });
    try {
      await scanning(rig.sim);
      for (let i = 1; i <= 3; i++) rig.sim.advertise(nordic(`C0:FF:EE:00:01:0${i}`, 0xff));
      await until(() => metric(rig, 'user_decoders/tripped') === 1, 'the decoder disabled');
      rig.sim.advertise(nordic('C0:FF:EE:00:01:04', 0xff));
      rig.sim.advertise(nordic('C0:FF:EE:00:01:05', 7));
      await sentinel(rig, 1);
      assert.equal(metric(rig, 'user_decoders/timeouts'), 3, 'the disabled decoder did not run again');
      assert.equal(rig.got.some((m) => m.topic.startsWith('ble/c0ffee')), false, 'nothing decoded by the disabled decoder');
    } finally {
      await rig.stop();
    }
  });

  test('an address that keeps timing out is skipped; the decoder keeps working for others', async () => {
    // The limit is CPU time, with a wall-clock backstop (1 s here) a very loaded machine could still
    // reach. So the test does not assume the quick advert never overruns: it is sent again from a new
    // address until one is decoded, and each overrun is counted. The sentinel says every advert before
    // it was handled; `adverts/decoded` says whether the quick one was decoded.
    const rig = await bleRig({
      user_decoders: [{ name: 'looper', file: looper, manufacturer_id: 0x0059 }], user_decoder_time_limit: '50ms',
      user_decoder_breaker: { timeouts: 100, address_timeouts: 2, window: '10m', cooldown: '10m' },
      allow: { formats: ['looper'], addresses: ['CB:B8:33:4C:88:4F'] }, publish: fast,
    });
    try {
      await scanning(rig.sim);
      for (let i = 0; i < 5; i++) rig.sim.advertise(nordic('C0:FF:EE:00:02:01', 0xff));
      let overran = 0;
      let quick: string | undefined;
      for (let n = 1; !quick; n++) {
        assert.ok(n <= 100, `${overran} quick calls in a row overran the time limit`);
        const address = `C0:FF:EE:00:03:${n.toString(16).padStart(2, '0')}`;
        const decoded = metric(rig, 'adverts/decoded');
        rig.sim.advertise(nordic(address, 7));
        await sentinel(rig, n);
        if (metric(rig, 'adverts/decoded') - decoded === 2) quick = address;
        else overran++;
      }
      const [m] = await rig.waitFor(new RegExp(`^ble/${quick.replaceAll(':', '').toLowerCase()}/up$`));
      assert.equal(m!.body.level, 7);
      assert.equal(metric(rig, 'user_decoders/timeouts'), 2 + overran, 'the looping address timed out twice, then was skipped');
      assert.equal(metric(rig, 'user_decoders/tripped'), 1, 'only the looping address was skipped');
    } finally {
      await rig.stop();
    }
  });

  test('a decoder that loops forever on every advert is stopped each time; the adapter keeps publishing other devices', async () => {
    const forever = file('forever', 'module.exports = function () { for (;;) {} };\n');
    const rig = await bleRig({
      user_decoders: [{ name: 'forever', file: forever, manufacturer_id: 0x0059 }], user_decoder_time_limit: '50ms',
      user_decoder_breaker: { timeouts: 100, address_timeouts: 100, window: '10m', cooldown: '10m' },
      allow: { formats: ['forever', 'bthome'], addresses: ['CB:B8:33:4C:88:4F'] }, publish: fast,
    });
    try {
      await scanning(rig.sim);
      for (let n = 1; n <= 3; n++) {
        rig.sim.advertise(nordic(`C0:FF:EE:00:04:0${n}`, n));
        await sentinel(rig, n);
        assert.equal(metric(rig, 'user_decoders/timeouts'), n, `the looping call ${n} was stopped`);
      }
      rig.sim.advertise({ ...FIXTURES.bthome, advertisement: { serviceData: [{ uuid: 'fcd2', data: BTHOME_READINGS.t2506 }] } });
      const [m] = await rig.waitFor(/^ble\/5448e68f80a5\/up$/);
      assert.equal(m!.body.tempc, 25.06);
      assert.equal(rig.got.some((x) => x.topic.startsWith('ble/c0ffee')), false, 'nothing published for the looping decoder');
    } finally {
      await rig.stop();
    }
  });
});
