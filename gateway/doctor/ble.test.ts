import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { tempDir } from '../test/helpers.ts';
import { testConfigYaml } from '../../hw-test/config.ts';
import { bleFindings, type BleFacts } from './ble.ts';
import { doctor } from './run.ts';

// doctor's BLE lines: each problem with its fix, from the facts; and the check run for real.

const good: BleFacts = { hci: 0, present: true, rfkill: 'ok', process: { root: false, raw: false, admin: false }, unitCaps: ['cap_net_raw', 'cap_net_admin'] };
const line = (facts: Partial<BleFacts>, check: string) => bleFindings({ ...good, ...facts }).find((f) => f.check === check)!;

test('all good: addon, radio and the service capabilities are ok', () => {
  assert.deepEqual(bleFindings(good).map((f) => f.status), ['ok', 'ok', 'ok']);
});

test('each problem fails with its fix', () => {
  const addon = line({ addonError: "Cannot find module '@stoprocent/bluetooth-hci-socket'" }, 'ble-addon');
  assert.equal(addon.status, 'fail');
  assert.match(addon.fix!, /Installing the HCI addon/);
  assert.match(line({ present: false }, 'ble-radio').message, /no Bluetooth adapter hci0/);
  assert.match(line({ rfkill: 'soft' }, 'ble-radio').fix!, /rfkill unblock bluetooth/);
  const caps = line({ unitCaps: ['cap_net_raw'] }, 'ble-caps');
  assert.equal(caps.status, 'fail');
  assert.match(caps.message, /lacks CAP_NET_ADMIN/);
  assert.match(caps.fix!, /install\.sh --ble/);
  const manual = line({ unitCaps: undefined }, 'ble-caps');
  assert.equal(manual.status, 'fail');
  assert.match(manual.fix!, /setcap cap_net_raw,cap_net_admin\+eip/);
  assert.equal(line({ unitCaps: undefined, process: { root: false, raw: true, admin: true } }, 'ble-caps').status, 'ok');
});

const dir = tempDir('fieldgate-doctor-ble-');
after(() => dir.remove());

test('doctor with BLE off says so in one line; with BLE on it checks addon, radio and capabilities', async () => {
  const off = join(dir.path, 'off.yaml');
  writeFileSync(off, testConfigYaml(join(dir.path, 'd1')));
  const offFindings = (await doctor({ file: off, service: null })).filter((f) => f.check.startsWith('ble'));
  assert.deepEqual(offFindings.map((f) => [f.check, f.status]), [['ble', 'ok']]);

  const on = join(dir.path, 'on.yaml');
  writeFileSync(on, testConfigYaml(join(dir.path, 'd2')).replace(/\n {2}ble:\n {4}enabled: false\n/, '\n  ble:\n    enabled: true\n'));
  const findings = (await doctor({ file: on, service: null })).filter((f) => f.check.startsWith('ble'));
  assert.deepEqual(findings.map((f) => f.check), ['ble-addon', 'ble-radio', 'ble-caps'], JSON.stringify(findings));
  if (!existsSync('/sys/class/bluetooth/hci0')) assert.equal(findings[1]!.status, 'fail');
});
