import { fail, macString, round, withFahrenheit, type DecodeResult, type Value } from './types.ts';

// RuuviTag data formats 3 (RAWv1) and 5 (RAWv2), docs.ruuvi.com: manufacturer data under company
// id 0x0499; big-endian fields. Acceleration is published in m/s^2 (the unit Theengs declares for
// accx/accy/accz) computed from milli-g with standard gravity; Theengs' own Ruuvi decoder is off by
// a factor of ten there, so dashboards built on it read a tenth of these values.

export const RUUVI_COMPANY = 0x0499;
const G = 9.80665;

const accel = (milliG: number) => round((milliG / 1000) * G, 3);

function df3(p: Buffer): DecodeResult {
  if (p.length !== 14) return fail('ruuvi3', `data format 3 is 14 bytes, got ${p.length}`);
  const t = p.readUInt8(2);
  const frac = p.readUInt8(3);
  if (frac > 99) return fail('ruuvi3', `temperature fraction ${frac} is not 0-99 hundredths`);
  // Sign-magnitude: bit 7 of the integer byte is the sign of the whole value.
  const tempc = ((t & 0x80) ? -1 : 1) * round((t & 0x7f) + frac / 100, 2);
  const values: Record<string, Value> = {
    tempc,
    hum: p.readUInt8(1) / 2,
    pres: round((p.readUInt16BE(4) + 50000) / 100, 2),
    accx: accel(p.readInt16BE(6)),
    accy: accel(p.readInt16BE(8)),
    accz: accel(p.readInt16BE(10)),
    volt: p.readUInt16BE(12) / 1000,
  };
  return { ok: true, format: 'ruuvi3', values: withFahrenheit(values) };
}

function df5(p: Buffer): DecodeResult {
  if (p.length !== 24) return fail('ruuvi5', `data format 5 is 24 bytes, got ${p.length}`);
  const v: Record<string, Value> = {};
  // Each field has its own "not available" marker; such fields are left out, not published as 0.
  const t = p.readInt16BE(1);
  if (t !== -0x8000) v.tempc = round(t * 0.005, 3);
  const h = p.readUInt16BE(3);
  if (h !== 0xffff) v.hum = round(h * 0.0025, 4);
  const pr = p.readUInt16BE(5);
  if (pr !== 0xffff) v.pres = round((pr + 50000) / 100, 2);
  for (const [key, at] of [['accx', 7], ['accy', 9], ['accz', 11]] as const) {
    const a = p.readInt16BE(at);
    if (a !== -0x8000) v[key] = accel(a);
  }
  const power = p.readUInt16BE(13);
  if (power >> 5 !== 2047) v.volt = ((power >> 5) + 1600) / 1000;
  if ((power & 0x1f) !== 31) v.tx = (power & 0x1f) * 2 - 40;
  const mov = p.readUInt8(15);
  if (mov !== 255) v.mov = mov;
  const seq = p.readUInt16BE(16);
  if (seq !== 0xffff) v.seq = seq;
  const mac = p.subarray(18, 24);
  if (!mac.every((x) => x === 0xff)) v.mac = macString(mac).toUpperCase();
  return { ok: true, format: 'ruuvi5', values: withFahrenheit(v), meta: seq !== 0xffff ? { packetId: seq } : undefined };
}

/** `payload` = manufacturer data after the 2-byte company id. */
export function decodeRuuvi(payload: Buffer): DecodeResult {
  if (payload.length === 0) return fail('ruuvi', 'empty Ruuvi manufacturer data (no data format byte)');
  const f = payload.readUInt8(0);
  if (f === 3) return df3(payload);
  if (f === 5) return df5(payload);
  return fail('ruuvi', `Ruuvi data format ${f} is not supported (3 and 5 are)`);
}
