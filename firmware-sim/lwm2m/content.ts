// What the simulated device answers to Read and Discover: its objects as text/plain, opaque, TLV,
// SenML JSON (110) or SenML CBOR (112), and as CoRE link format. From the LwM2M TS, not the gateway.
import { senmlCbor } from './cbor.ts';
import { senml, type Instance, type Kind, type ObjectStore, type SimRes } from './objects.ts';
import { instanceTlv, resourceTlv, valueBytes, type SimResource } from './tlv.ts';

function senmlAnswer(objects: ObjectStore, path: number[], format: 110 | 112): { format: number; payload: Buffer } {
  const records = senml(objects, path);
  return { format, payload: format === 110 ? Buffer.from(JSON.stringify(records)) : senmlCbor(records) };
}

/** A Discover answer (CoRE link format) for `path`, with the attributes written to it. */
export function discover(objects: ObjectStore, attributes: Map<string, Record<string, string>>, path: number[]): string {
  const [o, i] = path;
  const out: string[] = [];
  const attrs = (k: string) => Object.entries(attributes.get(k) ?? {}).map(([a, v]) => `;${a}=${v}`).join('');
  const obj = objects.get(o!)!;
  out.push(`</${path.join('/')}>${attrs(`/${path.join('/')}`)}`);
  for (const [iid, inst] of obj) {
    if (i !== undefined && iid !== i) continue;
    if (path.length === 1) out.push(`</${o}/${iid}>`);
    for (const rid of inst.keys()) if (path.length < 3 || rid === path[2]) if (path.length < 3) out.push(`</${o}/${iid}/${rid}>${attrs(`/${o}/${iid}/${rid}`)}`);
  }
  return out.join(',');
}

/** A Read answer for `path` in the format asked for (Accept), else text/plain, opaque or TLV. */
export function content(objects: ObjectStore, path: number[], accept?: number): { format: number; payload: Buffer } | undefined {
  const [o, i, r, ri] = path;
  const obj = objects.get(o!)!;
  if (r !== undefined) {
    const res = obj.get(i!)!.get(r)!;
    if (res.kind === 'exec' || !res.ops.includes('R')) return undefined;
    if (ri !== undefined) return { format: 0, payload: Buffer.from(String(res.instances?.get(ri) ?? '')) };
    if (accept === 110 || accept === 112) return senmlAnswer(objects, path, accept);
    if (res.instances || accept === 11542) return { format: 11542, payload: resourceTlv(tlvRes(r, res)) };
    if (res.kind === 'opaque') return { format: 42, payload: res.value as Buffer };
    return { format: 0, payload: Buffer.from(res.kind === 'bool' ? (res.value ? '1' : '0') : String(res.value)) };
  }
  if (accept === 110 || accept === 112) return senmlAnswer(objects, path, accept);
  const readable = (inst: Instance) => [...inst].filter(([, x]) => x.kind !== 'exec' && x.ops.includes('R')).map(([rid, x]) => tlvRes(rid, x));
  if (i !== undefined) return { format: 11542, payload: Buffer.concat(readable(obj.get(i)!).map(resourceTlv)) };
  return { format: 11542, payload: Buffer.concat([...obj].map(([iid, inst]) => instanceTlv(iid, readable(inst)))) };
}

export function tlvRes(id: number, res: SimRes): SimResource {
  const k = res.kind as Exclude<Kind, 'exec'>;
  if (res.instances) return { id, instances: new Map([...res.instances].map(([n, v]) => [n, valueBytes(v, k)])) };
  return { id, value: valueBytes(res.value ?? '', k) };
}
