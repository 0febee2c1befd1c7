import assert from 'node:assert/strict';
import { test } from 'node:test';
import { until } from '../../gateway/test/helpers.ts';
import { SimBindings } from '../../firmware-sim/ble/bindings.ts';
import { FIXTURES } from '../../firmware-sim/ble/fixtures.ts';
import { bleConfigSchema } from './config.ts';
import { nobleWithBindings } from './radio.ts';
import { isResolvablePrivate, scanCommand } from './scan.ts';

// `fieldgate ble scan` against the simulated controller: every device heard is listed with its
// decoder match and whether the config's allowlist would publish it.

test('scan lists devices, decoder matches and the allowlist verdict; publishes nothing', async () => {
  const sim = new SimBindings();
  const cfg = bleConfigSchema.parse({ enabled: true, allow: { formats: ['ruuvi5'] } });
  let text = '';
  const out = { write: (s: string) => (text += s), isTTY: false };
  const done = scanCommand(cfg, 1, () => nobleWithBindings(sim), out);
  await until(() => sim.scanning, 'scanning');
  for (const d of [FIXTURES.ruuvi, FIXTURES.bthome, FIXTURES.phone, FIXTURES.ibeacon]) sim.advertise(d);
  assert.equal(await done, 0);
  const rows = text.trim().split('\n');
  assert.match(rows[0]!, /^ADDRESS\s+NAME\s+RSSI\s+SEEN\s+AGE\s+PUBLISH\s+DECODER$/);
  const row = (addr: string) => rows.find((r) => r.startsWith(addr)) ?? '';
  assert.match(row('CB:B8:33:4C:88:4F'), /-72\s+1\s+\d+s\s+yes\s+ruuvi5$/);
  assert.match(row('54:48:E6:8F:80:A5'), /DIY-sensor\s+-60\s+1\s+\d+s\s+no\s+bthome$/);
  assert.match(row('6A:11:22:33:44:55'), /\(random, rotates\)\s+-50\s+1\s+\d+s\s+no\s+-$/);
  assert.match(row('D0:00:00:00:00:01'), /no\s+ibeacon$/);
  assert.ok(sim.calls.some((c) => c.method === 'stopScanning'), 'scanning stopped at the end');
});

test('resolvable private addresses: random type with the top bits 01', () => {
  assert.equal(isResolvablePrivate('6a:11:22:33:44:55', 'random'), true);
  assert.equal(isResolvablePrivate('ca:11:22:33:44:55', 'random'), false); // static random
  assert.equal(isResolvablePrivate('6a:11:22:33:44:55', 'public'), false);
});
