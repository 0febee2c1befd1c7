// The simulated device's objects: Device (3), Temperature (3303), Firmware Update (5), Server (1),
// with the value kinds the OMA definitions give them. Written from the TS, not from the gateway.
import type { SimValue } from './tlv.ts';

export type Kind = 'int' | 'float' | 'string' | 'bool' | 'opaque' | 'exec';

export interface SimRes {
  kind: Kind;
  ops: string;
  value?: SimValue;
  instances?: Map<number, SimValue>;
}

export type Instance = Map<number, SimRes>;
export type ObjectStore = Map<number, Map<number, Instance>>;

const r = (kind: Kind, ops: string, value?: SimValue): SimRes => ({ kind, ops, value });
const multi = (kind: Kind, ops: string, values: SimValue[]): SimRes => ({ kind, ops, instances: new Map(values.map((v, i) => [i, v])) });

/** A fresh object tree for endpoint `ep`. */
export function defaultObjects(ep: string, lifetime: number, binding: string): ObjectStore {
  const server: Instance = new Map([[0, r('int', 'R', 1)], [1, r('int', 'RW', lifetime)], [2, r('int', 'RW', 1)], [3, r('int', 'RW', 60)], [7, r('string', 'RW', binding)], [8, r('exec', 'E')]]);
  const device: Instance = new Map([
    [0, r('string', 'R', 'fieldgate-sim')], [1, r('string', 'R', 'lwm2m-sim-1')], [2, r('string', 'R', `SN-${ep}`)], [3, r('string', 'R', '1.0.0')],
    [4, r('exec', 'E')], [5, r('exec', 'E')], [6, multi('int', 'R', [1, 5])], [7, multi('int', 'R', [3800, 5000])], [9, r('int', 'R', 87)],
    [10, r('int', 'R', 15)], [11, multi('int', 'R', [0])], [13, r('int', 'RW', 1_700_000_000)], [14, r('string', 'RW', '+01:00')],
    [15, r('string', 'RW', 'Europe/Berlin')], [16, r('string', 'R', binding)], [17, r('string', 'R', 'sensor')], [18, r('string', 'R', 'rev-b')],
    [19, r('string', 'R', '1.0.0')],
  ]);
  const temperature: Instance = new Map([[5700, r('float', 'R', 21.5)], [5701, r('string', 'R', 'Cel')], [5601, r('float', 'R', 18.25)], [5602, r('float', 'R', 24.75)], [5605, r('exec', 'E')], [5750, r('string', 'RW', 'room')]]);
  const firmware: Instance = new Map([[0, r('opaque', 'W', Buffer.alloc(0))], [1, r('string', 'RW', '')], [2, r('exec', 'E')], [3, r('int', 'R', 0)], [5, r('int', 'R', 0)], [6, r('string', 'R', 'sim-fw')], [7, r('string', 'R', '1.0.0')]]);
  return new Map([
    [1, new Map([[0, server]])],
    [3, new Map([[0, device]])],
    [3303, new Map([[0, temperature]])],
    [5, new Map([[0, firmware]])],
  ]);
}

/** Kinds of resources a Create may carry, for objects the device can instantiate. */
export const CREATABLE: Record<number, Record<number, Kind>> = {
  3303: { 5700: 'float', 5701: 'string', 5601: 'float', 5602: 'float', 5750: 'string' },
};

/** SenML JSON (RFC 8428) records of a path in `objects`, names relative to the object's base name. */
export function senml(objects: ObjectStore, path: number[]): object[] {
  const [o, i, r] = path;
  const recs: object[] = [];
  for (const [iid, inst] of objects.get(o!) ?? []) {
    if (i !== undefined && iid !== i) continue;
    for (const [rid, res] of inst) {
      if ((r !== undefined && rid !== r) || res.kind === 'exec' || !res.ops.includes('R')) continue;
      const one = (n: string, v: SimValue) => (res.kind === 'float' || res.kind === 'int' ? { n, v: Number(v) } : res.kind === 'bool' ? { n, vb: Boolean(v) } : Buffer.isBuffer(v) ? { n, vd: v.toString('base64url') } : { n, vs: String(v) });
      if (res.instances) for (const [ri, v] of res.instances) recs.push(one(`${iid}/${rid}/${ri}`, v));
      else recs.push(one(`${iid}/${rid}`, res.value ?? ''));
    }
  }
  if (recs.length) (recs[0] as Record<string, unknown>).bn = `/${o}/`;
  return recs;
}

/** A written value (TLV bytes, or text/plain when `text`) as the resource's kind. */
export function decodeValue(kind: Kind, b: Buffer, text: boolean): SimValue {
  if (kind === 'opaque') return Buffer.from(b);
  if (text) return kind === 'int' || kind === 'float' ? Number(b.toString()) : kind === 'bool' ? b.toString() === '1' : b.toString();
  if (kind === 'int') return b.length === 0 ? 0 : b.readIntBE(0, Math.min(b.length, 6));
  if (kind === 'float') return b.length === 4 ? b.readFloatBE(0) : b.readDoubleBE(0);
  if (kind === 'bool') return b[0] === 1;
  return b.toString();
}
