// The simulated device's own TLV (OMA-TS-LightweightM2M-V1_0 6.4.3), written from the spec and
// deliberately independent of the gateway's codec so a shared misreading cannot hide in tests.

export type SimValue = string | number | boolean | Buffer;

/** One TLV element: type 0 object instance, 1 resource instance, 2 multiple resource, 3 resource. */
function element(type: number, id: number, value: Buffer): Buffer {
  const head: number[] = [];
  let first = type << 6;
  if (id > 255) first |= 0x20;
  let lenBytes: number[] = [];
  if (value.length < 8) first |= value.length;
  else if (value.length < 0x100) {
    first |= 0x08;
    lenBytes = [value.length];
  } else if (value.length < 0x10000) {
    first |= 0x10;
    lenBytes = [value.length >> 8, value.length & 0xff];
  } else {
    first |= 0x18;
    lenBytes = [value.length >> 16, (value.length >> 8) & 0xff, value.length & 0xff];
  }
  head.push(first);
  if (id > 255) head.push(id >> 8, id & 0xff);
  else head.push(id);
  return Buffer.concat([Buffer.from([...head, ...lenBytes]), value]);
}

/** A value's bytes: integers in the fewest of 1/2/4/8 bytes, floats as 8 bytes, booleans as 1. */
export function valueBytes(v: SimValue, kind: 'int' | 'float' | 'string' | 'bool' | 'opaque'): Buffer {
  if (Buffer.isBuffer(v)) return v;
  if (kind === 'bool') return Buffer.from([v ? 1 : 0]);
  if (kind === 'float') {
    const b = Buffer.alloc(8);
    b.writeDoubleBE(Number(v));
    return b;
  }
  if (kind === 'int') {
    const n = Number(v);
    if (n >= -128 && n <= 127) return Buffer.from([n & 0xff]);
    if (n >= -32768 && n <= 32767) {
      const b = Buffer.alloc(2);
      b.writeInt16BE(n);
      return b;
    }
    if (n >= -(2 ** 31) && n < 2 ** 31) {
      const b = Buffer.alloc(4);
      b.writeInt32BE(n);
      return b;
    }
    const b = Buffer.alloc(8);
    b.writeBigInt64BE(BigInt(n));
    return b;
  }
  return Buffer.from(String(v), 'utf8');
}

export interface SimResource {
  id: number;
  /** One value, or instances of a multiple resource. */
  value?: Buffer;
  instances?: Map<number, Buffer>;
}

export function resourceTlv(r: SimResource): Buffer {
  if (r.instances) return element(2, r.id, Buffer.concat([...r.instances].map(([i, v]) => element(1, i, v))));
  return element(3, r.id, r.value ?? Buffer.alloc(0));
}

export function instanceTlv(id: number, resources: SimResource[]): Buffer {
  return element(0, id, Buffer.concat(resources.map(resourceTlv)));
}

/** Reads TLV elements (flat, one level); children of nested elements are read by calling it again. */
export function readTlv(buf: Buffer): { type: number; id: number; value: Buffer }[] {
  const out: { type: number; id: number; value: Buffer }[] = [];
  let i = 0;
  while (i < buf.length) {
    const first = buf[i++]!;
    const type = first >> 6;
    const id = first & 0x20 ? (buf[i++]! << 8) | buf[i++]! : buf[i++]!;
    const lt = (first >> 3) & 3;
    let len = first & 7;
    if (lt > 0) {
      len = 0;
      for (let k = 0; k < lt; k++) len = (len << 8) | buf[i++]!;
    }
    if (i + len > buf.length || Number.isNaN(id)) throw new Error('bad TLV');
    out.push({ type, id, value: buf.subarray(i, i + len) });
    i += len;
  }
  return out;
}
