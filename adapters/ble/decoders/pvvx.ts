import { ccmDecrypt } from './ccm.ts';
import { fail, macString, round, withFahrenheit, type DecodeKeys, type DecodeResult, type Value } from './types.ts';

// Custom firmware for Xiaomi/Qingping thermometers (pvvx/ATC_MiThermometer src/custom_beacon.h):
// service data under UUID 0x181A, told apart by length. `data` is the service data after the UUID.
//   13 bytes: atc1441 (MAC big-endian, temp int16 BE x0.1, hum %, batt %, mV BE, counter)
//   15 / 14 bytes: pvvx custom (MAC reversed, temp int16 LE x0.01, hum x0.01, mV, batt %, counter, flags)
//   11 bytes: pvvx custom encrypted; 8 bytes: atc1441 encrypted (AES-CCM with the bindkey)

export const ENV_SENSING_UUID = '181a';

function atc1441(d: Buffer): DecodeResult {
  const values: Record<string, Value> = {
    tempc: round(d.readInt16BE(6) * 0.1, 1),
    hum: d.readUInt8(8),
    batt: d.readUInt8(9),
    volt: d.readUInt16BE(10) / 1000,
    packet: d.readUInt8(12),
    mac: macString(d.subarray(0, 6)).toUpperCase(),
  };
  return { ok: true, format: 'atc1441', values: withFahrenheit(values), meta: { packetId: d.readUInt8(12) } };
}

function pvvx(d: Buffer): DecodeResult {
  const values: Record<string, Value> = {
    tempc: round(d.readInt16LE(6) * 0.01, 2),
    hum: round(d.readUInt16LE(8) * 0.01, 2),
    volt: d.readUInt16LE(10) / 1000,
    batt: d.readUInt8(12),
    packet: d.readUInt8(13),
    mac: macString(Buffer.from(d.subarray(0, 6)).reverse()).toUpperCase(),
  };
  if (d.length === 15) values.flags = d.readUInt8(14);
  return { ok: true, format: 'pvvx', values: withFahrenheit(values), meta: { packetId: d.readUInt8(13) } };
}

function encrypted(d: Buffer, address: string, keys: DecodeKeys): DecodeResult {
  const format = d.length === 11 ? 'pvvx_enc' : 'atc1441_enc';
  const key = keys.bindkeys?.get(address.toLowerCase());
  if (!key) return fail(format, `encrypted ${format} advertisement from ${address} and no bindkey configured for it (adapters.ble.devices."${address}".bindkey)`);
  const hex = address.replace(/[:-]/g, '');
  if (!/^[0-9a-fA-F]{12}$/.test(hex)) return fail(format, `cannot build the nonce: "${address}" is not a MAC address`);
  // Nonce: the MAC least significant byte first, then the AD element's first five bytes (length,
  // 0x16, the UUID 1A 18, counter); associated data is the single byte 0x11.
  const nonce = Buffer.concat([Buffer.from(hex, 'hex').reverse(), Buffer.from([d.length + 3, 0x16, 0x1a, 0x18]), d.subarray(0, 1)]);
  const plain = ccmDecrypt(key, nonce, d.subarray(1, d.length - 4), d.subarray(d.length - 4), Buffer.from([0x11]));
  if (!plain) return fail(format, `MIC check failed for ${address}: wrong bindkey, or a damaged or spoofed advertisement`);
  const counter = d.readUInt8(0);
  let values: Record<string, Value>;
  if (format === 'pvvx_enc') {
    values = { tempc: round(plain.readInt16LE(0) * 0.01, 2), hum: round(plain.readUInt16LE(2) * 0.01, 2), batt: plain.readUInt8(4), flags: plain.readUInt8(5), packet: counter };
  } else {
    const b = plain.readUInt8(2);
    values = { tempc: plain.readUInt8(0) / 2 - 40, hum: plain.readUInt8(1) / 2, batt: b & 0x7f, trigger: (b & 0x80) !== 0, packet: counter };
  }
  return { ok: true, format, values: withFahrenheit(values), meta: { packetId: counter, encrypted: true } };
}

export function decodeEnvSensing(d: Buffer, address: string, keys: DecodeKeys = {}): DecodeResult {
  switch (d.length) {
    case 13:
      return atc1441(d);
    case 14:
    case 15:
      return pvvx(d);
    case 11:
    case 8:
      return encrypted(d, address, keys);
    default:
      return fail('pvvx', `0x181A service data of ${d.length} bytes matches no atc1441/pvvx layout (13, 14, 15, or encrypted 8, 11)`);
  }
}
