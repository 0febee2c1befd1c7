// SenML JSON (110, RFC 8428), SenML CBOR (112, RFC 8428 section 6) and the older OMA LwM2M JSON
// (11543, OMA-TS-LightweightM2M-V1_0 6.4.4): records with names resolved against a base name.
import { decode as cborDecode, encode as cborEncode } from 'cbor2';
import { CodecError, type JsonValue } from './values.ts';

export interface Record_ {
  name: string;
  value: JsonValue;
  /** `vd` (SenML) values, kept as bytes so the caller can base64 them consistently. */
  bytes?: Buffer;
  time?: number;
}

/** RFC 8428 table 4: SenML CBOR labels. `vlo` (LwM2M 1.1 object link) has no integer label. */
const CBOR_LABEL: Record<string, string> = { '-2': 'bn', '-3': 'bt', '-1': 'bver', '-5': 'bv', 0: 'n', 1: 'u', 2: 'v', 3: 'vs', 4: 'vb', 5: 's', 6: 't', 7: 'ut', 8: 'vd' };

function resolve(raw: Record<string, unknown>[], where: string): Record_[] {
  let bn = '';
  let bt = 0;
  let bv = 0;
  const out: Record_[] = [];
  raw.forEach((r, i) => {
    const at = `${where} record ${i}`;
    if (typeof r !== 'object' || r === null || Array.isArray(r)) throw new CodecError(`${at} is not an object`);
    if (r.bn !== undefined) {
      if (typeof r.bn !== 'string') throw new CodecError(`${at}: bn must be a string`);
      bn = r.bn;
    }
    if (r.bt !== undefined) bt = num(r.bt, `${at}: bt`);
    if (r.bv !== undefined) bv = num(r.bv, `${at}: bv`);
    if (r.n !== undefined && typeof r.n !== 'string') throw new CodecError(`${at}: n must be a string`);
    const name = bn + ((r.n as string | undefined) ?? '');
    const t = r.t !== undefined ? bt + num(r.t, `${at}: t`) : bt || undefined;
    const rec = value(r, bv, at);
    if (!rec) return; // a record with only base fields
    out.push({ name, time: t, ...rec });
  });
  return out;
}

/** Marks an integer literal too long for a double in JSON text, so it reaches `exact` unrounded. */
const BIG = '\u0000int:';

/** JSON text with every integer literal of 16+ digits (outside strings) turned into a marked string. */
function protectBigIntegers(text: string): string {
  return text.replace(/"(?:[^"\\]|\\.)*"|(?<![\d.eE+-])-?\d{16,}(?![.eE\d])/g, (m) => (m.startsWith('"') ? m : `"\\u0000int:${m}"`));
}

/** The exact integer behind a CBOR bigint or a protected JSON literal. */
function exact(v: unknown): bigint | undefined {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'string' && v.startsWith(BIG)) return BigInt(v.slice(BIG.length));
  return undefined;
}

/** A numeric value: integers beyond 2^53 stay exact, as decimal text (as TLV integers do). */
function numeric(v: unknown, bv: number, at: string): JsonValue {
  const big = exact(v);
  if (big !== undefined && Number.isInteger(bv)) {
    const sum = big + BigInt(bv);
    return sum >= BigInt(Number.MIN_SAFE_INTEGER) && sum <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(sum) : sum.toString();
  }
  return num(v, at) + bv;
}

function value(r: Record<string, unknown>, bv: number, at: string): { value: JsonValue; bytes?: Buffer } | undefined {
  if (r.v !== undefined) return { value: numeric(r.v, bv, `${at}: v`) };
  if (r.vs !== undefined) {
    if (typeof r.vs !== 'string' || r.vs.startsWith(BIG)) throw new CodecError(`${at}: vs must be a string`);
    return { value: r.vs };
  }
  if (r.vb !== undefined) {
    if (typeof r.vb !== 'boolean') throw new CodecError(`${at}: vb must be a boolean`);
    return { value: r.vb };
  }
  if (r.vlo !== undefined) {
    if (typeof r.vlo !== 'string' || !/^\d+:\d+$/.test(r.vlo)) throw new CodecError(`${at}: vlo must be "objectId:instanceId"`);
    return { value: r.vlo };
  }
  if (r.vd !== undefined) {
    if (r.vd instanceof Uint8Array) return { value: '', bytes: Buffer.from(r.vd) };
    if (typeof r.vd !== 'string' || !/^[A-Za-z0-9_\-+/]*={0,2}$/.test(r.vd)) throw new CodecError(`${at}: vd must be base64url`);
    return { value: '', bytes: Buffer.from(r.vd, 'base64url') };
  }
  if (r.n !== undefined && Object.keys(r).every((k) => k === 'n' || k === 't' || k === 'bn' || k === 'bt' || k === 'bver')) return { value: '' };
  return undefined;
}

function num(v: unknown, at: string): number {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  const big = exact(v);
  if (big !== undefined) return Number(big);
  throw new CodecError(`${at} must be a number`);
}

function parseJson(buf: Buffer, what: string): unknown {
  try {
    return JSON.parse(protectBigIntegers(buf.toString('utf8')));
  } catch (err) {
    throw new CodecError(`${what} is not valid JSON: ${(err as Error).message}`);
  }
}

export function decodeSenmlJson(buf: Buffer): Record_[] {
  const doc = parseJson(buf, 'SenML JSON');
  if (!Array.isArray(doc)) throw new CodecError('SenML JSON must be an array of records');
  return resolve(doc as Record<string, unknown>[], 'SenML JSON');
}

export function decodeSenmlCbor(buf: Buffer): Record_[] {
  let doc: unknown;
  try {
    doc = cborDecode(buf);
  } catch (err) {
    throw new CodecError(`SenML CBOR is not valid CBOR: ${(err as Error).message}`);
  }
  if (!Array.isArray(doc)) throw new CodecError('SenML CBOR must be an array of records');
  const records = doc.map((r: unknown) => {
    const entries: [unknown, unknown][] = r instanceof Map ? [...(r as Map<unknown, unknown>).entries()] : typeof r === 'object' && r !== null ? Object.entries(r) : [];
    if (!(r instanceof Map) && (typeof r !== 'object' || r === null)) return r as Record<string, unknown>;
    const o: Record<string, unknown> = {};
    for (const [k, v] of entries) o[CBOR_LABEL[String(k)] ?? String(k)] = v;
    return o;
  });
  return resolve(records, 'SenML CBOR');
}

/** OMA LwM2M JSON (1.0): {"bn": "/3/0/", "e": [{"n": "0", "sv": "..."}, {"n": "9", "v": 80}]}. */
export function decodeLwm2mJson(buf: Buffer): Record_[] {
  const doc = parseJson(buf, 'LwM2M JSON') as { bn?: unknown; bt?: unknown; e?: unknown };
  if (typeof doc !== 'object' || doc === null || !Array.isArray(doc.e)) throw new CodecError('LwM2M JSON must be an object with an "e" array');
  if (doc.bn !== undefined && typeof doc.bn !== 'string') throw new CodecError('LwM2M JSON: bn must be a string');
  const bn = (doc.bn as string | undefined) ?? '';
  const bt = doc.bt === undefined ? 0 : num(doc.bt, 'LwM2M JSON: bt');
  return (doc.e as unknown[]).map((e, i) => {
    const at = `LwM2M JSON entry ${i}`;
    if (typeof e !== 'object' || e === null) throw new CodecError(`${at} is not an object`);
    const r = e as Record<string, unknown>;
    if (r.n !== undefined && typeof r.n !== 'string') throw new CodecError(`${at}: n must be a string`);
    const name = bn + ((r.n as string | undefined) ?? '');
    const t = r.t !== undefined ? bt + num(r.t, `${at}: t`) : undefined;
    if (r.v !== undefined) return { name, value: numeric(r.v, 0, `${at}: v`), time: t };
    if (typeof r.sv === 'string') return { name, value: r.sv, time: t };
    if (typeof r.bv === 'boolean') return { name, value: r.bv, time: t };
    if (typeof r.ov === 'string' && /^\d+:\d+$/.test(r.ov)) return { name, value: r.ov, time: t };
    throw new CodecError(`${at} has no valid value (v, sv, bv or ov)`);
  });
}

export interface WriteRecord {
  name: string;
  value: JsonValue;
  bytes?: Buffer;
}

function senmlRecords(base: string, items: WriteRecord[]): Record<string, unknown>[] {
  return items.map((it, i) => {
    const r: Record<string, unknown> = {};
    if (i === 0) r.bn = base;
    r.n = it.name.startsWith(base) ? it.name.slice(base.length) : it.name;
    if (it.bytes) r.vd = it.bytes;
    else if (typeof it.value === 'number') r.v = it.value;
    else if (typeof it.value === 'boolean') r.vb = it.value;
    else r.vs = it.value;
    return r;
  });
}

export function encodeSenmlJson(base: string, items: WriteRecord[]): Buffer {
  const recs = senmlRecords(base, items).map((r) => (r.vd instanceof Buffer ? { ...r, vd: r.vd.toString('base64url') } : r));
  return Buffer.from(JSON.stringify(recs));
}

export function encodeSenmlCbor(base: string, items: WriteRecord[]): Buffer {
  const label = Object.fromEntries(Object.entries(CBOR_LABEL).map(([k, v]) => [v, Number(k)]));
  const recs = senmlRecords(base, items).map((r) => new Map(Object.entries(r).map(([k, v]) => [label[k] ?? k, v instanceof Buffer ? new Uint8Array(v) : v])));
  return Buffer.from(cborEncode(recs));
}
