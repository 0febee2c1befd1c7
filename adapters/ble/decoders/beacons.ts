import { fail, round, withFahrenheit, type DecodeResult, type Value } from './types.ts';

// iBeacon (Apple manufacturer data 4C 00 02 15, as vendors publish the frame) and Eddystone
// (google/eddystone protocol-specification: service data under 0xFEAA, big-endian fields).

export const APPLE_COMPANY = 0x004c;
export const EDDYSTONE_UUID = 'feaa';

/** `mfr` = the whole manufacturer data, company id first. Apple data that is not iBeacon is not ours. */
export function decodeIbeacon(mfr: Buffer): DecodeResult {
  if (mfr.length < 4 || mfr.readUInt8(2) !== 0x02 || mfr.readUInt8(3) !== 0x15) return undefined;
  if (mfr.length !== 25) return fail('ibeacon', `iBeacon manufacturer data is 25 bytes, got ${mfr.length}`);
  return {
    ok: true,
    format: 'ibeacon',
    values: {
      mfid: '4c00',
      uuid: mfr.subarray(4, 20).toString('hex'),
      major: mfr.readUInt16BE(20),
      minor: mfr.readUInt16BE(22),
      // Measured power: the calibrated RSSI at 1 m.
      txpower: mfr.readInt8(24),
    },
  };
}

const SCHEMES = ['http://www.', 'https://www.', 'http://', 'https://'];
const EXPANSIONS = ['.com/', '.org/', '.edu/', '.net/', '.info/', '.biz/', '.gov/', '.com', '.org', '.edu', '.net', '.info', '.biz', '.gov'];

function url(d: Buffer): DecodeResult {
  if (d.length < 4) return fail('eddystone_url', `URL frame of ${d.length} bytes is too short (needs Tx power, scheme and at least one URL byte)`);
  if (d.length > 20) return fail('eddystone_url', `URL frame of ${d.length} bytes is too long (at most 17 URL bytes)`);
  const scheme = SCHEMES[d.readUInt8(2)];
  if (scheme === undefined) return fail('eddystone_url', `URL scheme byte 0x${d.readUInt8(2).toString(16)} is not one of 00-03`);
  let text = scheme;
  for (const c of d.subarray(3)) {
    const exp = EXPANSIONS[c];
    if (exp !== undefined) text += exp;
    else if (c > 0x20 && c < 0x7f) text += String.fromCharCode(c);
    else return fail('eddystone_url', `URL byte 0x${c.toString(16).padStart(2, '0')} is reserved`);
  }
  return { ok: true, format: 'eddystone_url', values: { url: text, txpower: d.readInt8(1) } };
}

function uid(d: Buffer): DecodeResult {
  // 20 bytes with the two RFU bytes; older beacons drop them.
  if (d.length !== 18 && d.length !== 20) return fail('eddystone_uid', `UID frame is 20 bytes (18 without RFU), got ${d.length}`);
  return { ok: true, format: 'eddystone_uid', values: { namespace: d.subarray(2, 12).toString('hex'), instance: d.subarray(12, 18).toString('hex'), txpower: d.readInt8(1) } };
}

function tlm(d: Buffer): DecodeResult {
  if (d.length < 2) return fail('eddystone_tlm', 'TLM frame without a version byte');
  const version = d.readUInt8(1);
  if (version === 0x01) return fail('eddystone_tlm', 'encrypted TLM (version 1) needs the beacon\'s EID identity key; not decoded');
  if (version !== 0x00) return fail('eddystone_tlm', `TLM version ${version} is unknown`);
  if (d.length !== 14) return fail('eddystone_tlm', `plain TLM frame is 14 bytes, got ${d.length}`);
  const v: Record<string, Value> = {};
  const mv = d.readUInt16BE(2);
  if (mv !== 0) v.volt = mv / 1000; // 0 = not battery powered
  const t = d.readInt16BE(4);
  if (t !== -0x8000) v.tempc = round(t / 256, 2); // signed 8.8 fixed point; 0x8000 = not supported
  v.count = d.readUInt32BE(6);
  v.time = round(d.readUInt32BE(10) / 10, 1);
  return { ok: true, format: 'eddystone_tlm', values: withFahrenheit(v) };
}

/** `d` = service data after UUID 0xFEAA. */
export function decodeEddystone(d: Buffer): DecodeResult {
  if (d.length < 1) return fail('eddystone', 'empty Eddystone service data');
  const frame = d.readUInt8(0);
  switch (frame) {
    case 0x00:
      return uid(d);
    case 0x10:
      return url(d);
    case 0x20:
      return tlm(d);
    case 0x30:
      return fail('eddystone', 'EID frames (0x30) carry a rotating identifier that only its registration service resolves; not decoded');
    default:
      return fail('eddystone', `Eddystone frame type 0x${frame.toString(16).padStart(2, '0')} is unknown`);
  }
}
