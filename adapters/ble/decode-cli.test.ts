import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fieldgate } from '../../gateway/test/cli.ts';
import { tempDir } from '../../gateway/test/helpers.ts';

// `fieldgate ble decode` as a user runs it: the real CLI in a child process, Theengs/OMG-style JSON
// lines in, one JSON line out per input line.

const lines = (objs: unknown[]) => objs.map((o) => (typeof o === 'string' ? o : JSON.stringify(o))).join('\n') + '\n';
const parse = (stdout: string) => stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

describe('fieldgate ble decode', () => {
  const dir = tempDir('fieldgate-ble-decode-');
  after(() => dir.remove());

  test('decodes each line in order; bad lines give {"error"} and the rest go on', async () => {
    const input = lines([
      { id: '54:48:E6:8F:80:A5', name: 'DIY-sensor', servicedata: '4002c40903bf13', servicedatauuid: '0xfcd2', rssi: -67 },
      { id: 'CB:B8:33:4C:88:4F', manufacturerdata: '99040512fc5394c37c0004fffc040cac364200cdcbb8334c884f', rssi: -80 },
      'not json',
      { id: 'A4:C1:38:00:11:22', servicedata: 'a4c13800112200ea2e570b8605', servicedatauuid: '181a' },
      { id: 'A4:C1:38:00:11:22', servicedata: '22110038c1a4', servicedatauuid: '181a' },
      { id: 'AA:BB:CC:DD:EE:FF', manufacturerdata: '060001092002' },
      { name: 'no id' },
      { id: '54:48:E6:8F:80:A5', servicedata: '41e445f3c9962b332211006c7c4519', servicedatauuid: 'fcd2' },
    ]);
    const r = await fieldgate(['ble', 'decode'], { input });
    assert.equal(r.code, 0, r.stderr);
    const out = parse(r.stdout);
    assert.equal(out.length, 8);
    assert.deepEqual(out[0], { id: '54:48:E6:8F:80:A5', name: 'DIY-sensor', rssi: -67, tempc: 25, hum: 50.55, tempf: 77, format: 'bthome' });
    assert.deepEqual(out[1], { id: 'CB:B8:33:4C:88:4F', rssi: -80, tempc: 24.3, hum: 53.49, pres: 1000.44, accx: 0.039, accy: -0.039, accz: 10.16, volt: 2.977, tx: 4, mov: 66, seq: 205, mac: 'CB:B8:33:4C:88:4F', tempf: 75.74, format: 'ruuvi5' });
    assert.match(String(out[2]!.error), /^line 3 is not JSON/);
    assert.equal(out[3]!.format, 'atc1441');
    assert.equal(out[3]!.tempc, 23.4);
    assert.match(String(out[4]!.error), /0x181A service data of 6 bytes matches no/);
    assert.deepEqual(out[5], { id: 'AA:BB:CC:DD:EE:FF', error: 'no decoder matches this advertisement' });
    assert.match(String(out[6]!.error), /line 7: "id" .* is missing/);
    assert.match(String(out[7]!.error), /no bindkey configured/);
  });

  test('bindkeys from --bindkey: right and wrong key', async () => {
    const flag = await fieldgate(['ble', 'decode', '--bindkey', '54:48:E6:8F:80:A5=231d39c1d7cc1ab1aee224cd096db932'], { input: lines([{ id: '54:48:E6:8F:80:A5', servicedata: '41e445f3c9962b332211006c7c4519', servicedatauuid: 'fcd2' }]) });
    assert.deepEqual(parse(flag.stdout)[0], { id: '54:48:E6:8F:80:A5', tempc: 25.06, hum: 50.55, tempf: 77.108, format: 'bthome' });
    const wrong = await fieldgate(['ble', 'decode', '--bindkey', '54:48:E6:8F:80:A5=00000000000000000000000000000000'], { input: lines([{ id: '54:48:E6:8F:80:A5', servicedata: '41e445f3c9962b332211006c7c4519', servicedatauuid: 'fcd2' }]) });
    assert.match(String(parse(wrong.stdout)[0]!.error), /MIC check failed/);
  });

  test('bindkeys and a user decoder from the config file', async () => {
    const decoder = join(dir.path, 'nordic.js');
    writeFileSync(decoder, 'module.exports = function (input) { return { count: input.bytes[2] }; };\n');
    const config = join(dir.path, 'fieldgate.yaml');
    writeFileSync(config, [
      'adapters:',
      '  ble:',
      '    devices:',
      "      'A4:C1:38:00:11:22': { bindkey: 231d39c1d7cc1ab1aee224cd096db932 }",
      "    user_decoder_time_limit: '5s'", // wall-clock: a loaded machine can pause the decoder for 100 ms
      '    user_decoders:',
      `      - { name: nordic_counter, file: ${JSON.stringify(decoder)}, manufacturer_id: 0x0059 }`,
      '',
    ].join('\n'));
    const input = lines([
      { id: 'a4:c1:38:00:11:22', servicedata: '05db97a03060433829c73a', servicedatauuid: '0x181a' },
      { id: 'c0:ff:ee:00:00:01', manufacturerdata: '59002a' },
    ]);
    const r = await fieldgate(['ble', 'decode', '--config', config], { input });
    assert.equal(r.code, 0, r.stderr);
    const [pvvx, user] = parse(r.stdout);
    assert.deepEqual(pvvx, { id: 'A4:C1:38:00:11:22', tempc: 23.45, hum: 45.67, batt: 87, flags: 0, packet: 5, tempf: 74.21, format: 'pvvx_enc' });
    assert.deepEqual(user, { id: 'C0:FF:EE:00:00:01', count: 42, format: 'nordic_counter' });
  });

  test('a bad flag exits 2 with the usage', async () => {
    const r = await fieldgate(['ble', 'decode', '--bindkey', 'nonsense'], { input: '' });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--bindkey "nonsense": write ADDRESS=32HEXDIGITS/);
  });
});
