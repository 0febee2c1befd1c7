import { normalizeUuid, type Advert, type DecodeResult } from './decoders/index.ts';

// The advertisement JSON that Theengs Decoder and OpenMQTTGateway take as input:
//   {"id": "AA:BB:CC:DD:EE:FF", "name": "...", "manufacturerdata": "<hex>", "servicedata": "<hex>",
//    "servicedatauuid": "0xfcd2", "rssi": -70}
// and the output line fieldgate prints for it: the input's id/name/rssi, the decoded values, and
// `format`; or {"error": ...}.

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

function hex(field: string, v: unknown): Buffer | string {
  if (typeof v !== 'string') return `"${field}" must be a hex string`;
  const s = v.trim().replace(/^0x/i, '');
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) return `"${field}" is not an even-length hex string`;
  return Buffer.from(s, 'hex');
}

/** A Theengs/OMG input object as an Advert, or an error text. */
export function advertFromTheengs(input: unknown): Advert | string {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return 'each line must be a JSON object';
  const o = input as Record<string, unknown>;
  if (typeof o.id !== 'string') return '"id" (the device address, AA:BB:CC:DD:EE:FF) is missing';
  const address = o.id.trim().toLowerCase().replace(/-/g, ':');
  if (!MAC.test(address)) return `"id" "${o.id}" is not an address like AA:BB:CC:DD:EE:FF`;
  if (o.servicedata === undefined && o.manufacturerdata === undefined && o.name === undefined) return 'at least one of "servicedata", "manufacturerdata", "name" is needed';
  const ad: Advert = { address, serviceData: [] };
  if (o.name !== undefined) {
    if (typeof o.name !== 'string') return '"name" must be a string';
    ad.name = o.name;
  }
  if (o.rssi !== undefined) {
    if (typeof o.rssi !== 'number' || !Number.isFinite(o.rssi)) return '"rssi" must be a number';
    ad.rssi = o.rssi;
  }
  if (o.manufacturerdata !== undefined) {
    const b = hex('manufacturerdata', o.manufacturerdata);
    if (typeof b === 'string') return b;
    ad.manufacturerData = b;
  }
  if (o.servicedata !== undefined) {
    const b = hex('servicedata', o.servicedata);
    if (typeof b === 'string') return b;
    if (typeof o.servicedatauuid !== 'string' || !o.servicedatauuid.trim()) return '"servicedata" needs "servicedatauuid" (e.g. "0xfcd2")';
    const uuid = normalizeUuid(o.servicedatauuid);
    if (!/^[0-9a-f]{4}$|^[0-9a-f]{8}$|^[0-9a-f]{32}$/.test(uuid)) return `"servicedatauuid" "${o.servicedatauuid}" is not a UUID`;
    ad.serviceData.push({ uuid, data: b });
  }
  return ad;
}

/** The output object for one decoded advertisement (Theengs keeps the input's id/name/rssi). */
export function theengsOutput(ad: Advert | undefined, r: DecodeResult): Record<string, unknown> {
  if (!ad) return { error: 'no advertisement' };
  if (!r) return { id: ad.address.toUpperCase(), error: 'no decoder matches this advertisement' };
  if (!r.ok) return { id: ad.address.toUpperCase(), format: r.format, error: r.error };
  const head: Record<string, unknown> = { id: ad.address.toUpperCase() };
  if (ad.name !== undefined) head.name = ad.name;
  if (ad.rssi !== undefined) head.rssi = ad.rssi;
  return { ...head, ...r.values, format: r.format };
}
