import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { bleRig, scanning } from '../../adapters/ble/test-kit.ts';
import { Fleet } from './fleet.ts';

// The demo fleet through the real adapter: its frames (built from the format specs here) decode
// to the readings it meant, and the GATT device echoes a write as a notification.

test('the fleet is heard, decoded and published; the GATT device echoes writes', async () => {
  const rig = await bleRig({ allow: { formats: ['*'] }, publish: { min_interval: 0, heartbeat: 0 } });
  const fleet = new Fleet(rig.sim, { sensors: 2, rate: 20, repeats: 2 });
  try {
    await scanning(rig.sim);
    fleet.start();
    const [bt] = await rig.waitFor(/^ble\/5448e6000001\/up$/);
    const [pv] = await rig.waitFor(/^ble\/a4c138000002\/up$/);
    assert.equal(bt!.body.format, 'bthome');
    assert.equal(bt!.body.batt, 90);
    assert.equal(typeof bt!.body.tempc, 'number');
    assert.equal(pv!.body.format, 'pvvx');
    assert.equal(pv!.body.mac, 'A4:C1:38:00:00:02');
    assert.equal(pv!.body.volt, 2.95);
    await rig.waitFor(/^ble\/cbb8334c884f\/up$/);
    assert.equal(rig.got.some((m) => m.topic.startsWith('ble/6a1122334455/')), false, 'the phone is never published');
    await rig.client.publishAsync('ble/c0ffee000001/dn', JSON.stringify({ id: 'sub', cmd: 'subscribe', service: '6e400001b5a3f393e0a9e50e24dcca9e', characteristic: '6e400003b5a3f393e0a9e50e24dcca9e' }));
    const [sr] = await rig.waitFor(/^ble\/c0ffee000001\/resp$/);
    assert.equal(sr!.body.ok, true, JSON.stringify(sr!.body));
    await rig.client.publishAsync('ble/c0ffee000001/dn', JSON.stringify({ id: 'w', cmd: 'write', service: '6e400001b5a3f393e0a9e50e24dcca9e', characteristic: '6e400002b5a3f393e0a9e50e24dcca9e', data: '68690a' }));
    const [n] = await rig.waitFor(/^ble\/c0ffee000001\/notify$/);
    assert.equal(n!.body.data, '68690a');
  } finally {
    fleet.stop();
    await rig.stop();
  }
});

// In a child process: the CLI writes to stdout, which the test runner reports on.
const sim = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('../cli.ts', import.meta.url)), 'ble', ...args], { encoding: 'utf8', timeout: 120_000 });

test('npm run sim -- ble: bad options exit 2, --help exits 0, a short run starts a gateway and stops it cleanly', () => {
  assert.equal(sim('--sensors', 'many').status, 2);
  const help = sim('--help');
  assert.equal(help.status, 0);
  assert.match(help.stdout, /usage: npm run sim -- ble/);
  const run = sim('--port', '0', '--sensors', '1', '--duration', '0.2', '--log', 'info');
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /"msg":"fieldgate started"/);
  assert.doesNotMatch(run.stdout + run.stderr, /HTTP API/, 'MQTT is its only listener: no HTTP API on 0.0.0.0:18083');
  assert.match(run.stdout, /ble sim: \d+ devices at 2\/s each; MQTT on 127\.0\.0\.1:\d+/);
  assert.match(run.stdout, /ble sim: \d+ advertisements sent/);
});
