import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeAdvert, type DecodeResult } from './index.ts';

// Every expected value below is the one bthome.io publishes next to its example bytes
// (format.html, encryption.html; restated in /work/shared/reference/ble.md section 2), not the
// output of an encoder of ours.

const MAC = '54:48:e6:8f:80:a5';
const KEY = Buffer.from('231d39c1d7cc1ab1aee224cd096db932', 'hex');

function bthome(hex: string, bindkeys?: Map<string, Buffer>, address = MAC): DecodeResult {
  return decodeAdvert({ address, serviceData: [{ uuid: 'fcd2', data: Buffer.from(hex.replace(/ /g, ''), 'hex') }] }, { bindkeys });
}

function values(hex: string): Record<string, unknown> {
  const r = bthome(hex);
  assert.ok(r?.ok, `${hex}: ${JSON.stringify(r)}`);
  return r.values;
}

describe('BTHome v2 (bthome.io examples)', () => {
  test('the published advertisement: 25.00 C, 50.55 %', () => {
    // AD element 0A16D2FC4002C40903BF13: service data after the UUID is 40 02C409 03BF13.
    const r = bthome('40 02C409 03BF13');
    assert.deepEqual(r, { ok: true, format: 'bthome', values: { tempc: 25, hum: 50.55, tempf: 77 }, meta: { packetId: undefined, counter: undefined, encrypted: false, triggerBased: false } });
  });

  // id + value bytes -> [key, value], from the sensor table of bthome.io/format.
  const SENSORS: [string, string, number | string][] = [
    ['0161', 'batt', 97], ['02CA09', 'tempc', 25.06], ['03BF13', 'hum', 50.55], ['04138A01', 'pres', 1008.83],
    ['05138A14', 'lux', 13460.67], ['065E1F', 'weight', 80.3], ['073E1D', 'weight_lb', 74.86], ['08CA06', 'tempc_dp', 17.38],
    ['0960', 'count', 96], ['0A138A14', 'energy', 1346.067], ['0B021B00', 'power', 69.14], ['0C020C', 'volt', 3.074],
    ['0D120C', 'pm25', 3090], ['0E021C', 'pm10', 7170], ['12E204', 'co2', 1250], ['133301', 'tvoc', 307],
    ['14020C', 'moi', 30.74], ['2E23', 'hum', 35], ['2F23', 'moi', 35], ['3D0960', 'count', 24585],
    ['3E2A2C0960', 'count', 1611213866], ['3F020C', 'rot', 307.4], ['400C00', 'distance_mm', 12], ['414E00', 'distance_m', 7.8],
    ['424E3400', 'duration', 13.39], ['434E34', 'current', 13.39], ['444E34', 'speed', 133.9], ['451101', 'tempc', 27.3],
    ['4632', 'uv', 5], ['478756', 'volume_l', 2215.1], ['48DC87', 'volume_ml', 34780], ['49DC87', 'flow_rate', 34.78],
    ['4A020C', 'volt', 307.4], ['4B138A14', 'gas', 1346.067], ['4C41018A01', 'gas', 25821.505], ['4d12138a14', 'energy', 344593.17],
    ['4E87562A01', 'volume_l', 19551.879], ['4F87562A01', 'water', 19551.879], ['505d396164', 'timestamp', 1684093277],
    ['518756', 'acc', 22.151], ['528756', 'gyro', 22.151], ['530C48656C6C6F20576F726C6421', 'text', 'Hello World!'],
    ['540C48656C6C6F20576F726C6421', 'raw', '48656c6c6f20576f726c6421'], ['5587562A01', 'volume_storage', 19551.879],
    ['56E803', 'fer', 1000], ['57EA', 'tempc', -22], ['58EA', 'tempc', -7.7], ['59EA', 'count', -22], ['5AEAEA', 'count', -5398],
    ['5BEA0234EA', 'count', -365690134], ['5C02FBFFFF', 'power', -12.78], ['5D02EA', 'current', -5.63], ['5E9F8C', 'direction_deg', 359.99],
    ['5FA00F', 'precipitation', 400], ['6001', 'channel', 1], ['61AC0D', 'rpm', 3500], ['624099DFFF', 'speed', -2.123456],
    ['630057D0FF', 'acc', -3.123456], ['6402', 'lightlevel', 2], ['6503', 'settings_rev', 3],
    ['0009', 'packet', 9], ['F00100', 'device_type', 1], ['F100010204', 'fw', '4.2.1.0'], ['F2000106', 'fw', '6.1.0'],
  ];
  for (const [hex, key, want] of SENSORS) {
    test(`object ${hex.slice(0, 2)}: ${hex} -> ${key} ${want}`, () => {
      assert.equal(values(`40${hex}`)[key], want);
    });
  }

  test('every binary sensor id 0x0F-0x2D reads 01 as true and 00 as false', () => {
    const ids = [0x0f, 0x10, 0x11, ...Array.from({ length: 0x2d - 0x15 + 1 }, (_, i) => 0x15 + i)];
    for (const id of ids) {
      const h = id.toString(16).padStart(2, '0');
      const on = values(`40${h}01`);
      const off = values(`40${h}00`);
      assert.equal(Object.keys(on).length, 1, h);
      assert.equal(Object.values(on)[0], true, h);
      assert.equal(Object.values(off)[0], false, h);
    }
    assert.deepEqual(values('402101'), { motion: true });
    assert.deepEqual(values('401100'), { open: false });
  });

  test('events: buttons in order (none, press), dimmer steps, command step up', () => {
    assert.deepEqual(values('40 3A00 3A01'), { button: 0, button_event: 'none', button2: 1, button_event2: 'press' });
    assert.deepEqual(values('40 3A04'), { button: 9, button_event: 'long_press' });
    assert.deepEqual(values('40 3A80'), { button: 11, button_event: 'hold_press' });
    assert.deepEqual(values('40 3C0103'), { dimmer: 'rotate_left', steps: 3 });
    assert.deepEqual(values('40 3C020A'), { dimmer: 'rotate_right', steps: 10 });
    assert.deepEqual(values('40 3B010305'), { command: 'step_up', steps: 5 });
  });

  test('a repeated property gets a numbered key, in order', () => {
    assert.deepEqual(values('40 02CA09 02C409'), { tempc: 25.06, tempc2: 25, tempf: 77.108, tempf2: 77 });
  });

  test('parsing stops at the first unknown id, keeping the known lower ids', () => {
    assert.deepEqual(values('40 02CA09 FE0102'), { tempc: 25.06, tempf: 77.108 });
  });

  test('packet id and trigger-based flag reach meta', () => {
    const r = bthome('44 0009 3A01');
    assert.ok(r?.ok);
    assert.equal(r.meta?.packetId, 9);
    assert.equal(r.meta?.triggerBased, true);
  });

  test('malformed: truncated value, missing length byte, wrong version, empty', () => {
    for (const [hex, re] of [
      ['40 02CA', /object 0x02 at byte 0 needs 2 bytes, 1 left/],
      ['40 53', /length byte missing/],
      ['40 530C4865', /needs 13 bytes/],
      ['20 02CA09', /BTHome version 1/],
      ['', /empty service data/],
    ] as const) {
      const r = bthome(hex);
      assert.equal(r?.ok, false, hex);
      assert.match((r as { error: string }).error, re);
    }
  });
});

describe('BTHome v2 encryption (bthome.io and bthome-ble vectors)', () => {
  const keys = new Map([[MAC, KEY]]);

  test('current bthome.io vector: counter 33221100 -> 25.06 C, 50.55 %', () => {
    const r = bthome('41 e445f3c9962b 33221100 6c7c4519', keys);
    assert.ok(r?.ok, JSON.stringify(r));
    assert.deepEqual(r.values, { tempc: 25.06, hum: 50.55, tempf: 77.108 });
    assert.equal(r.meta?.counter, 1122867);
    assert.equal(r.meta?.encrypted, true);
  });

  test('older vector (bthome-ble tests): counter 00112233, and the motion packet', () => {
    const r = bthome('41 a47266c95f73 00112233 78237214', keys);
    assert.ok(r?.ok);
    assert.deepEqual(r.values, { tempc: 25.06, hum: 50.55, tempf: 77.108 });
    const m = bthome('41 87b9 00112233 72b0231f', keys);
    assert.ok(m?.ok);
    assert.deepEqual(m.values, { motion: true });
  });

  test('a wrong key, a wrong MAC, or a flipped bit fails the MIC check', () => {
    const wrong = new Map([[MAC, Buffer.from('231d39c1d7cc1ab1aee224cd096db933', 'hex')]]);
    for (const r of [
      bthome('41 e445f3c9962b 33221100 6c7c4519', wrong),
      bthome('41 e445f3c9962b 33221100 6c7c4519', new Map([['54:48:e6:8f:80:a6', KEY]]), '54:48:e6:8f:80:a6'),
      bthome('41 e445f3c9962a 33221100 6c7c4519', keys),
    ]) {
      assert.equal(r?.ok, false);
      assert.match((r as { error: string }).error, /MIC check failed/);
    }
  });

  test('no bindkey configured, or too short to hold counter and MIC', () => {
    const r = bthome('41 e445f3c9962b 33221100 6c7c4519');
    assert.equal(r?.ok, false);
    assert.match((r as { error: string }).error, /no bindkey configured.*adapters\.ble\.devices/);
    const s = bthome('41 33221100 6c7c45', keys);
    assert.equal(s?.ok, false);
    assert.match((s as { error: string }).error, /too short/);
  });
});
