import { APPLE_COMPANY, decodeEddystone, decodeIbeacon, EDDYSTONE_UUID } from './beacons.ts';
import { BTHOME_UUID, decodeBthome } from './bthome.ts';
import { decodeEnvSensing, ENV_SENSING_UUID } from './pvvx.ts';
import { decodeRuuvi, RUUVI_COMPANY } from './ruuvi.ts';
import { normalizeUuid, type Advert, type DecodeKeys, type DecodeResult } from './types.ts';
import { userInput, type UserDecoder } from './user.ts';

export type { Advert, DecodeKeys, DecodeResult, Decoded, DecodeError, ServiceData, Value } from './types.ts';
export { BUILTIN_FORMATS, normalizeUuid } from './types.ts';


export interface DecodeOptions extends DecodeKeys {
  user?: readonly UserDecoder[];
}

function builtinService(uuid: string, data: Buffer, ad: Advert, opts: DecodeOptions): DecodeResult {
  if (uuid === BTHOME_UUID) return decodeBthome(data, ad.address, opts);
  if (uuid === ENV_SENSING_UUID) return decodeEnvSensing(data, ad.address, opts);
  if (uuid === EDDYSTONE_UUID) return decodeEddystone(data);
  return undefined;
}

function builtinManufacturer(mfr: Buffer): DecodeResult {
  const company = mfr.readUInt16LE(0);
  if (company === RUUVI_COMPANY) return decodeRuuvi(mfr.subarray(2));
  if (company === APPLE_COMPANY) return decodeIbeacon(mfr);
  return undefined;
}

/**
 * Decodes one advertisement: user decoders first (so one can replace a built-in for a device),
 * then the built-ins, service data before manufacturer data. The first success wins; when nothing
 * succeeds the first error is returned; undefined when no decoder recognizes the advertisement.
 * Never throws: every input, however malformed, gives a result.
 */
export function decodeAdvert(ad: Advert, opts: DecodeOptions = {}): DecodeResult {
  const mfr = ad.manufacturerData && ad.manufacturerData.length >= 2 ? ad.manufacturerData : undefined;
  const company = mfr?.readUInt16LE(0);
  const services = ad.serviceData.map((s) => ({ uuid: normalizeUuid(s.uuid), data: s.data }));
  const attempts: (() => DecodeResult)[] = [];
  for (const u of opts.user ?? []) {
    if (u.manufacturerId !== undefined && mfr && company === u.manufacturerId) attempts.push(() => u.run(userInput(ad, mfr)));
    if (u.serviceUuid !== undefined) {
      const want = normalizeUuid(u.serviceUuid);
      for (const s of services) if (s.uuid === want) attempts.push(() => u.run(userInput(ad, s.data, s.uuid, s.data)));
    }
  }
  for (const s of services) attempts.push(() => builtinService(s.uuid, s.data, ad, opts));
  if (mfr) attempts.push(() => builtinManufacturer(mfr));
  let firstError: DecodeResult;
  for (const attempt of attempts) {
    let r: DecodeResult;
    try {
      r = attempt();
    } catch (err) {
      // A decoder bug must not take the adapter down; report it like a malformed payload.
      r = { ok: false, format: 'unknown', error: `decoder crashed: ${(err as Error).message}` };
    }
    if (r?.ok) return r;
    if (r && !firstError) firstError = r;
  }
  return firstError;
}
