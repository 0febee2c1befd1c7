// OMA LwM2M TLV (content format 11542, OMA-TS-LightweightM2M-V1_0 6.4.3): decode to paths and
// raw values, encode from paths and raw values. Pure functions; typing is the caller's job.
import { CodecError } from './values.ts';

export const TLV = { OBJECT_INSTANCE: 0, RESOURCE_INSTANCE: 1, MULTIPLE_RESOURCE: 2, RESOURCE: 3 } as const;
type Kind = (typeof TLV)[keyof typeof TLV];

export interface TlvEntry {
  kind: Kind;
  id: number;
  /** Value bytes (RESOURCE, RESOURCE_INSTANCE) or nested entries (OBJECT_INSTANCE, MULTIPLE_RESOURCE). */
  value?: Buffer;
  children?: TlvEntry[];
}

const KIND_NAME = ['object instance', 'resource instance', 'multiple resource', 'resource'];

/** Parses a TLV payload into entries. Throws CodecError on any framing fault. */
export function parseTlv(buf: Buffer, depth = 0): TlvEntry[] {
  const out: TlvEntry[] = [];
  let i = 0;
  while (i < buf.length) {
    const at = i;
    const h = buf[i++]!;
    const kind = (h >> 6) as Kind;
    const idLen = h & 0x20 ? 2 : 1;
    const lenType = (h >> 3) & 3;
    if (i + idLen + lenType > buf.length) throw new CodecError(`TLV truncated in the header at byte ${at}`);
    const id = idLen === 2 ? buf.readUInt16BE(i) : buf[i]!;
    i += idLen;
    let len = h & 7;
    if (lenType > 0) {
      len = buf.readUIntBE(i, lenType);
      i += lenType;
    }
    if (i + len > buf.length) throw new CodecError(`TLV ${KIND_NAME[kind]} ${id} at byte ${at} says ${len} bytes, only ${buf.length - i} left`);
    const body = buf.subarray(i, i + len);
    i += len;
    if (kind === TLV.OBJECT_INSTANCE || kind === TLV.MULTIPLE_RESOURCE) {
      if (depth >= 2) throw new CodecError(`TLV nested too deep at byte ${at}`);
      const children = parseTlv(body, depth + 1);
      const allowed = kind === TLV.OBJECT_INSTANCE ? [TLV.RESOURCE, TLV.MULTIPLE_RESOURCE] : [TLV.RESOURCE_INSTANCE];
      for (const c of children) if (!allowed.includes(c.kind as never)) throw new CodecError(`TLV ${KIND_NAME[kind]} ${id} may not contain a ${KIND_NAME[c.kind]}`);
      out.push({ kind, id, children });
    } else {
      out.push({ kind, id, value: Buffer.from(body) });
    }
  }
  return out;
}

/** How many path segments an entry of this kind names (object instance = /O/I). */
const LEVEL: Record<Kind, number> = { 0: 2, 1: 4, 2: 3, 3: 3 };

/**
 * Flattens entries under the request path into (path, bytes) pairs. An entry at the request
 * path's own level is the addressed item itself (a read of /3/0/6 answers with multiple resource 6).
 */
export function flattenTlv(entries: TlvEntry[], base: number[]): { path: number[]; value: Buffer }[] {
  const out: { path: number[]; value: Buffer }[] = [];
  const walk = (list: TlvEntry[], at: number[]) => {
    for (const e of list) {
      const level = LEVEL[e.kind];
      let path: number[];
      if (at.length >= level) {
        if (at[level - 1] !== e.id) throw new CodecError(`TLV ${KIND_NAME[e.kind]} ${e.id} does not belong to /${at.join('/')}`);
        path = at.slice(0, level);
      } else if (at.length === level - 1) {
        path = [...at, e.id];
      } else if (at.length === 1 && level === 3) {
        // A resource straight under an object read: single-instance objects sent without the instance wrapper.
        path = [at[0]!, 0, e.id];
      } else {
        throw new CodecError(`TLV ${KIND_NAME[e.kind]} ${e.id} cannot appear under /${at.join('/')}`);
      }
      if (e.children) walk(e.children, path);
      else out.push({ path, value: e.value! });
    }
  };
  walk(entries, base);
  return out;
}

function header(kind: Kind, id: number, len: number): Buffer {
  const idLen = id > 0xff ? 2 : 1;
  const lenType = len < 8 ? 0 : len <= 0xff ? 1 : len <= 0xffff ? 2 : 3;
  if (len > 0xffffff) throw new CodecError(`TLV value of ${len} bytes is over the 16 MB limit`);
  const b = Buffer.alloc(1 + idLen + lenType);
  b[0] = (kind << 6) | (idLen === 2 ? 0x20 : 0) | (lenType << 3) | (lenType === 0 ? len : 0);
  if (idLen === 2) b.writeUInt16BE(id, 1);
  else b[1] = id;
  if (lenType > 0) b.writeUIntBE(len, 1 + idLen, lenType);
  return b;
}

export function encodeEntries(entries: TlvEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const body = e.children ? encodeEntries(e.children) : (e.value ?? Buffer.alloc(0));
    parts.push(header(e.kind, e.id, body.length), body);
  }
  return Buffer.concat(parts);
}

/**
 * Encodes values at full paths for a request to `base` (e.g. PUT /3/0/13, POST /3/0, POST /5).
 * Paths deeper than `base` become the nested structure TLV needs: object instances, multiple
 * resources and their instances.
 */
export function encodeTlv(base: number[], items: { path: number[]; value: Buffer }[]): Buffer {
  type Node = { id: number; value?: Buffer; kids: Map<number, Node> };
  const root: Node = { id: -1, kids: new Map() };
  for (const it of items) {
    const p = it.path;
    if (p.length < base.length || base.some((s, k) => p[k] !== s)) throw new CodecError(`/${p.join('/')} is not under /${base.join('/')}`);
    if (p.length < 3 || p.length > 4) throw new CodecError(`/${p.join('/')} does not name a resource or resource instance`);
    let n = root;
    for (const seg of p.slice(base.length)) {
      let k = n.kids.get(seg);
      if (!k) n.kids.set(seg, (k = { id: seg, kids: new Map() }));
      n = k;
    }
    if (n.value || n.kids.size) throw new CodecError(`/${p.join('/')} is given twice or also has sub-paths`);
    n.value = it.value;
  }
  const build = (n: Node, level: number): TlvEntry => {
    if (level === 2) return { kind: TLV.OBJECT_INSTANCE, id: n.id, children: [...n.kids.values()].map((k) => build(k, 3)) };
    if (level === 3) {
      if (n.value) return { kind: TLV.RESOURCE, id: n.id, value: n.value };
      return { kind: TLV.MULTIPLE_RESOURCE, id: n.id, children: [...n.kids.values()].map((k) => build(k, 4)) };
    }
    return { kind: TLV.RESOURCE_INSTANCE, id: n.id, value: n.value ?? Buffer.alloc(0) };
  };
  // A write to a resource path with instances (PUT /3/0/6 with 6/0, 6/1) is a multiple resource.
  if (base.length === 3 && !root.value) return encodeEntries([build({ id: base[2]!, kids: root.kids }, 3)]);
  if (base.length === 3 || base.length === 4) return encodeEntries([base.length === 3 ? { kind: TLV.RESOURCE, id: base[2]!, value: root.value! } : { kind: TLV.RESOURCE_INSTANCE, id: base[3]!, value: root.value! }]);
  return encodeEntries([...root.kids.values()].map((k) => build(k, base.length + 1)));
}
