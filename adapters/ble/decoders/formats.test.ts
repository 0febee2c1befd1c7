import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeAdvert, type DecodeResult } from './index.ts';

// Expected values are the ones the format documents publish (Ruuvi's test vectors; the layouts and
// constructed examples restated in /work/shared/reference/ble.md sections 3-6), not an encoder's.

const G = 9.80665;
const KEY = Buffer.from('231d39c1d7cc1ab1aee224cd096db932', 'hex');
const XIAOMI = 'a4:c1:38:00:11:22';

const mfr = (hex: string): DecodeResult => decodeAdvert({ address: 'aa:bb:cc:dd:ee:ff', serviceData: [], manufacturerData: Buffer.from(hex.replace(/ /g, ''), 'hex') });
const svc = (uuid: string, hex: string, address = XIAOMI, keys?: Map<string, Buffer>): DecodeResult =>
  decodeAdvert({ address, serviceData: [{ uuid, data: Buffer.from(hex.replace(/ /g, ''), 'hex') }] }, { bindkeys: keys });

function ok(r: DecodeResult): Record<string, unknown> {
  assert.ok(r?.ok, JSON.stringify(r));
  return r.values;
}
function err(r: DecodeResult, re: RegExp): void {
  assert.equal(r?.ok, false, JSON.stringify(r));
  assert.match((r as { error: string }).error, re);
}
const acc = (g: number) => Math.round(g * G * 1000) / 1000;

describe('RuuviTag (docs.ruuvi.com vectors)', () => {
  test('format 5 valid vector', () => {
    assert.deepEqual(ok(mfr('9904 0512FC5394C37C0004FFFC040CAC364200CDCBB8334C884F')), {
      tempc: 24.3, hum: 53.49, pres: 1000.44, accx: acc(0.004), accy: acc(-0.004), accz: acc(1.036),
      volt: 2.977, tx: 4, mov: 66, seq: 205, mac: 'CB:B8:33:4C:88:4F', tempf: 75.74,
    });
  });
  test('format 5 maximum and minimum vectors', () => {
    const max = ok(mfr('9904 057FFFFFFEFFFE7FFF7FFF7FFFFFDEFEFFFECBB8334C884F'));
    assert.deepEqual([max.tempc, max.hum, max.pres, max.accx, max.tx, max.volt, max.mov, max.seq], [163.835, 163.835, 1155.34, acc(32.767), 20, 3.646, 254, 65534]);
    const min = ok(mfr('9904 058001000000008001800180010000000000CBB8334C884F'));
    assert.deepEqual([min.tempc, min.hum, min.pres, min.accz, min.tx, min.volt, min.mov, min.seq], [-163.835, 0, 500, acc(-32.767), -40, 1.6, 0, 0]);
  });
  test('format 5 invalid vector: every field "not available" is left out', () => {
    assert.deepEqual(ok(mfr('9904 058000FFFFFFFF800080008000FFFFFFFFFFFFFFFFFFFFFF')), {});
  });
  test('format 3 valid, maximum and minimum vectors (sign-magnitude temperature)', () => {
    assert.deepEqual(ok(mfr('9904 03291A1ECE1EFC18F94202CA0B53')), {
      tempc: 26.3, hum: 20.5, pres: 1027.66, accx: acc(-1), accy: acc(-1.726), accz: acc(0.714), volt: 2.899, tempf: 79.34,
    });
    const max = ok(mfr('9904 03FF7F63FFFF7FFF7FFF7FFFFFFF'));
    assert.deepEqual([max.tempc, max.pres, max.hum, max.accx, max.volt], [127.99, 1155.35, 127.5, acc(32.767), 65.535]);
    const min = ok(mfr('9904 0300FF6300008001800180010000'));
    assert.deepEqual([min.tempc, min.pres, min.hum, min.accy, min.volt], [-127.99, 500, 0, acc(-32.767), 0]);
    assert.equal(ok(mfr('9904 03008145 0000 0000 0000 0000 0000')).tempc, -1.69);
  });
  test('short, long and unknown formats are errors', () => {
    err(mfr('9904 0512FC5394C37C0004FFFC040CAC364200CDCBB8334C88'), /format 5 is 24 bytes, got 23/);
    err(mfr('9904 03291A1ECE1EFC18F94202CA0B5300'), /format 3 is 14 bytes, got 15/);
    err(mfr('9904 04'), /format 4 is not supported/);
    err(mfr('9904'), /empty Ruuvi/);
  });
});

describe('atc1441 and pvvx (0x181A)', () => {
  test('atc1441: A4:C1:38:00:11:22, 23.4 C, 46 %, 87 %, 2950 mV, counter 5', () => {
    assert.deepEqual(ok(svc('181a', 'A4C138001122 00EA 2E 57 0B86 05')), { tempc: 23.4, hum: 46, batt: 87, volt: 2.95, packet: 5, mac: 'A4:C1:38:00:11:22', tempf: 74.12 });
  });
  test('pvvx custom: 23.45 C, 45.67 %, 2950 mV, 87 %, counter 5, flags 0; and without the flags byte', () => {
    const want = { tempc: 23.45, hum: 45.67, volt: 2.95, batt: 87, packet: 5, mac: 'A4:C1:38:00:11:22', tempf: 74.21 };
    assert.deepEqual(ok(svc('181a', '221100 38C1A4 2909 D711 860B 57 05 00')), { ...want, flags: 0 });
    assert.deepEqual(ok(svc('0x181A', '221100 38C1A4 2909 D711 860B 57 05')), want);
  });
  test('pvvx encrypted with the bindkey, and atc1441 encrypted', () => {
    const keys = new Map([[XIAOMI, KEY]]);
    assert.deepEqual(ok(svc('181a', '05 db97a0306043 3829c73a', XIAOMI, keys)), { tempc: 23.45, hum: 45.67, batt: 87, flags: 0, packet: 5, tempf: 74.21 });
    assert.deepEqual(ok(svc('181a', '05 3c68c5 91245c2a', XIAOMI, keys)), { tempc: 23.5, hum: 45.5, batt: 87, trigger: false, packet: 5, tempf: 74.3 });
  });
  test('encrypted with a wrong key, no key, or from another MAC', () => {
    err(svc('181a', '05 db97a0306043 3829c73a', XIAOMI, new Map([[XIAOMI, Buffer.alloc(16)]])), /MIC check failed/);
    err(svc('181a', '05 db97a0306043 3829c73a'), /no bindkey configured/);
    err(svc('181a', '05 db97a0306043 3829c73a', 'a4:c1:38:00:11:23', new Map([['a4:c1:38:00:11:23', KEY]])), /MIC check failed/);
  });
  test('a length no layout has is an error', () => {
    err(svc('181a', 'A4C138001122 00EA 2E'), /0x181A service data of 9 bytes matches no/);
    err(svc('181a', 'A4C1'), /0x181A service data of 2 bytes matches no/);
  });
});

describe('iBeacon and Eddystone', () => {
  test('iBeacon: UUID, major, minor, measured power', () => {
    assert.deepEqual(ok(mfr('4c00 0215 f7826da64fa24e988024bc5b71e0893e 0001 0102 c5')), {
      mfid: '4c00', uuid: 'f7826da64fa24e988024bc5b71e0893e', major: 1, minor: 258, txpower: -59,
    });
  });
  test('other Apple data is not claimed; a truncated iBeacon is an error', () => {
    assert.equal(mfr('4c00 1005 0b1c3a7e21'), undefined);
    err(mfr('4c00 0215 f7826da64fa24e98'), /iBeacon manufacturer data is 25 bytes, got 12/);
  });
  test('Eddystone UID (with and without RFU), URL with expansions, TLM', () => {
    assert.deepEqual(ok(svc('feaa', '00 E7 8b0ca750095477cb3e77 0a0b0c0d0e0f 0000')), { namespace: '8b0ca750095477cb3e77', instance: '0a0b0c0d0e0f', txpower: -25 });
    assert.equal(ok(svc('feaa', '00 12 8b0ca750095477cb3e77 0a0b0c0d0e0f')).txpower, 18);
    // 0x00 http://www. + "example" + 0x07 .com ; 0x03 https:// + "fieldgate.io" is literal text.
    assert.deepEqual(ok(svc('feaa', `10 EE 00 ${Buffer.from('example').toString('hex')} 07`)), { url: 'http://www.example.com', txpower: -18 });
    assert.equal(ok(svc('feaa', `10 12 03 ${Buffer.from('goo.gl/S6zT6P').toString('hex')}`)).url, 'https://goo.gl/S6zT6P');
    assert.equal(ok(svc('feaa', `10 12 02 ${Buffer.from('x').toString('hex')} 00`)).url, 'http://x.com/');
    // 3000 mV, 25.5 C (0x1980 in 8.8), 100 PDUs, 1000 x 0.1 s.
    assert.deepEqual(ok(svc('feaa', '20 00 0BB8 1980 00000064 000003E8')), { volt: 3, tempc: 25.5, count: 100, time: 100, tempf: 77.9 });
    assert.deepEqual(ok(svc('feaa', '20 00 0000 8000 00000001 00000002')), { count: 1, time: 0.2 });
  });
  test('Eddystone errors: reserved URL byte, bad scheme, short TLM, encrypted TLM, EID, unknown frame', () => {
    err(svc('feaa', '10 12 00 41 0E'), /URL byte 0x0e is reserved/);
    err(svc('feaa', '10 12 09 41'), /scheme byte 0x9/);
    err(svc('feaa', '20 00 0BB8'), /plain TLM frame is 14 bytes/);
    err(svc('feaa', '20 01 00'), /encrypted TLM/);
    err(svc('feaa', '30 12 0102030405060708'), /EID/);
    err(svc('feaa', '50'), /frame type 0x50 is unknown/);
    err(svc('feaa', '00 12 8b0ca7'), /UID frame is 20 bytes/);
  });
});

describe('dispatch', () => {
  test('an advertisement no decoder knows gives undefined, not an error', () => {
    assert.equal(mfr('0600 0109 2002'), undefined);
    assert.equal(svc('fe9f', '0000'), undefined);
    assert.equal(decodeAdvert({ address: 'aa:bb:cc:dd:ee:ff', serviceData: [], manufacturerData: Buffer.from([0x99]) }), undefined);
  });
  test('the 128-bit form of a 16-bit UUID is recognized', () => {
    assert.ok(svc('0000fcd2-0000-1000-8000-00805f9b34fb', '4002C40903BF13')?.ok);
  });
});
