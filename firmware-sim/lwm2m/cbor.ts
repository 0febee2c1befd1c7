// A minimal CBOR encoder (RFC 8949 3.1) for the simulated device's SenML CBOR answers (RFC 8428
// section 6): integers, float64, text and byte strings, booleans, arrays and integer-keyed maps.
// Written from the RFCs so that the gateway's decoder (cbor2) is checked against independent bytes.

export type CborValue = number | string | boolean | Buffer | CborValue[] | Map<number, CborValue>;

function head(major: number, n: number): Buffer {
  const m = major << 5;
  if (n < 24) return Buffer.from([m | n]);
  if (n < 0x100) return Buffer.from([m | 24, n]);
  if (n < 0x10000) return Buffer.from([m | 25, n >> 8, n & 0xff]);
  if (n < 0x100000000) {
    const b = Buffer.alloc(5);
    b[0] = m | 26;
    b.writeUInt32BE(n, 1);
    return b;
  }
  const b = Buffer.alloc(9);
  b[0] = m | 27;
  b.writeBigUInt64BE(BigInt(n), 1);
  return b;
}

export function cborEncode(v: CborValue): Buffer {
  if (typeof v === 'boolean') return Buffer.from([v ? 0xf5 : 0xf4]);
  if (typeof v === 'number') {
    if (Number.isSafeInteger(v)) return v >= 0 ? head(0, v) : head(1, -1 - v);
    const b = Buffer.alloc(9);
    b[0] = 0xfb;
    b.writeDoubleBE(v, 1);
    return b;
  }
  if (typeof v === 'string') {
    const t = Buffer.from(v, 'utf8');
    return Buffer.concat([head(3, t.length), t]);
  }
  if (Buffer.isBuffer(v)) return Buffer.concat([head(2, v.length), v]);
  if (Array.isArray(v)) return Buffer.concat([head(4, v.length), ...v.map(cborEncode)]);
  return Buffer.concat([head(5, v.size), ...[...v].flatMap(([k, x]) => [cborEncode(k), cborEncode(x)])]);
}

/** RFC 8428 table 4: SenML labels as CBOR map keys. */
const LABEL: Record<string, number> = { bn: -2, n: 0, v: 2, vs: 3, vb: 4, vd: 8 };

/** SenML JSON-shaped records (vd as base64url) as SenML CBOR. */
export function senmlCbor(records: object[]): Buffer {
  return cborEncode(
    records.map((r) => {
      const m = new Map<number, CborValue>();
      for (const [k, v] of Object.entries(r)) {
        const label = LABEL[k];
        if (label === undefined) continue;
        m.set(label, k === 'vd' ? Buffer.from(String(v), 'base64url') : (v as CborValue));
      }
      return m;
    }),
  );
}
