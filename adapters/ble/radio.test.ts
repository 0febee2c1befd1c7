import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, test } from 'node:test';
import { connect, startGateway, until } from '../../gateway/test/helpers.ts';
import { SimBindings } from '../../firmware-sim/ble/bindings.ts';
import { FIXTURES } from '../../firmware-sim/ble/fixtures.ts';
import { bleAdapterDefinition } from './index.ts';
import { hciNoble, hciPresent, radioProblem, RadioUnavailable } from './radio.ts';
import { bleRig, scanning } from './test-kit.ts';

// No radio, no permission, a radio that resets: the adapter says what to do, is unhealthy, is
// retried with backoff, and the rest of the gateway keeps serving.

const quick = { backoffInitial: 20, backoffMax: 200 };

describe('BLE radio problems', () => {
  test('no radio: the adapter is unhealthy with the fix in its error, retried, and MQTT keeps working', async () => {
    let attempts = 0;
    const def = bleAdapterDefinition({
      noble: (hci) => {
        attempts++;
        throw radioProblem('no_adapter', hci);
      },
    });
    const gw = await startGateway({ adapters: { ble: { enabled: true } } }, [def], quick);
    try {
      await until(() => attempts >= 3, 'three attempts');
      const [h] = gw.gw.health();
      assert.equal(h?.name, 'ble');
      assert.equal(h?.state === 'running', false);
      assert.match(h!.last_error!, /BLE radio unavailable: no Bluetooth adapter hci0: check "ls \/sys\/class\/bluetooth" and "rfkill list bluetooth"/);
      const c = await connect(gw.url);
      await c.subscribeAsync('still/here');
      const got = new Promise<string>((r) => c.once('message', (_t, p) => r(p.toString())));
      await c.publishAsync('still/here', 'yes');
      assert.equal(await got, 'yes');
      await c.endAsync();
    } finally {
      await gw.stop();
    }
  });

  test('the real HCI radio on a machine without one: a clear error, not a crash', { skip: hciPresent(0) === true ? 'this machine has hci0' : false }, () => {
    // Without the bluetooth kernel module there is no /sys/class/bluetooth at all.
    const expected = existsSync('/sys/class/bluetooth') ? /no Bluetooth adapter hci0/ : /no Bluetooth socket support \(no \/sys\/class\/bluetooth\): load it with "sudo modprobe bluetooth"/;
    assert.throws(() => hciNoble(0), (err: Error) => err instanceof RadioUnavailable && expected.test(err.message));
  });

  test('no permission (unauthorized): the error names CAP_NET_RAW / CAP_NET_ADMIN and install.sh --ble', async () => {
    const sim = new SimBindings();
    sim.initialState = 'unauthorized';
    const rig = await bleRig({}, { sim, supervisor: quick });
    try {
      await until(() => (rig.gw.gw.health()[0]?.restarts ?? 0) >= 1, 'a restart');
      const h = rig.gw.gw.health()[0]!;
      assert.match(h.last_error!, /no permission to use hci0 over raw HCI: grant CAP_NET_RAW and CAP_NET_ADMIN: for the service run "sudo \.\/install\.sh --ble"/);
    } finally {
      await rig.stop();
    }
  });

  test('a socket noble cannot bind (EBUSY, reported as unsupported): the error says to stop bluetoothd and how to see the reason', async () => {
    const sim = new SimBindings();
    sim.initialState = 'unsupported';
    const rig = await bleRig({}, { sim, supervisor: quick });
    try {
      await until(() => /EBUSY/.test(rig.gw.gw.health()[0]?.last_error ?? ''), 'the unsupported error');
      const h = rig.gw.gw.health()[0]!;
      assert.equal(h.state === 'running', false);
      assert.match(h.last_error!, /BLE radio unavailable: hci0 could not be opened or does not support Bluetooth Low Energy: with HCI_CHANNEL_USER set the adapter must be down and bluetoothd must not hold it \(EBUSY: "sudo systemctl stop bluetooth"\).*run with DEBUG=hci/);
      // Each failed attempt released its noble instance (the socket is closed, not leaked).
      await until(() => sim.calls.filter((c) => c.method === 'stop').length >= 1, 'a released instance');
      assert.ok(sim.calls.filter((c) => c.method === 'stop').length >= sim.calls.filter((c) => c.method === 'start').length - 1);
    } finally {
      await rig.stop();
    }
  });

  test('radio reset: poweredOff fails the adapter; on poweredOn it scans again and publishes', async () => {
    const rig = await bleRig({ allow: { formats: ['ruuvi5'] }, publish: { min_interval: 0, heartbeat: 0, change_only: false } }, { supervisor: quick });
    try {
      await scanning(rig.sim);
      rig.sim.advertise(FIXTURES.ruuvi);
      await rig.waitFor(/^ble\/cbb8334c884f\/up$/);
      rig.sim.setState('poweredOff');
      await until(() => rig.gw.gw.health()[0]?.state !== 'running', 'the adapter to notice');
      assert.match(rig.gw.gw.health()[0]!.last_error!, /BLE radio went poweredOff/);
      rig.sim.setState('poweredOn');
      await until(() => rig.gw.gw.health()[0]?.state === 'running', 'the adapter to run again');
      await scanning(rig.sim, 2);
      rig.sim.advertise({ ...FIXTURES.ruuvi, advertisement: { manufacturerData: Buffer.from('99040512FC5394C37C0004FFFC040CAC364200CECBB8334C884F', 'hex') } });
      await rig.waitFor(/^ble\/cbb8334c884f\/up$/, 2);
    } finally {
      await rig.stop();
    }
  });

  test('stopping the adapter stops its noble instance: the controller is released, nothing listens any more', async () => {
    const rig = await bleRig({});
    await scanning(rig.sim);
    assert.equal(rig.sim.listenerCount('discover'), 1);
    await rig.stop();
    assert.deepEqual(rig.sim.calls.filter((c) => c.method === 'start' || c.method === 'stop').map((c) => c.method), ['start', 'stop']);
    assert.equal(rig.sim.listenerCount('discover'), 0);
    assert.equal(rig.sim.scanning, false);
  });

  test('scanning stopped by another program is started again', async () => {
    const rig = await bleRig({});
    try {
      await scanning(rig.sim);
      rig.sim.externalScanStop();
      await scanning(rig.sim, 2);
      assert.equal(rig.gw.gw.metrics.snapshot()['adapters/ble/scan/restarts'], 1);
    } finally {
      await rig.stop();
    }
  });
});
