// LwM2M resource values: the data types of the OMA object definitions, and their conversions
// between the wire (TLV bytes, text/plain strings) and the JSON the MQTT side sees. Pure functions.

/** Resource data types as OMA's DDF files spell them (`none` = executable, no value). */
export type ResourceType = 'String' | 'Integer' | 'Unsigned Integer' | 'Float' | 'Boolean' | 'Opaque' | 'Time' | 'Objlnk' | 'Corelnk' | 'none';

export const RESOURCE_TYPES: readonly ResourceType[] = ['String', 'Integer', 'Unsigned Integer', 'Float', 'Boolean', 'Opaque', 'Time', 'Objlnk', 'Corelnk', 'none'];

/** A value as published in JSON. Opaque values are base64 text; Objlnk values are "objectId:instanceId". */
export type JsonValue = string | number | boolean;

export interface PathValue {
  path: string;
  value: JsonValue;
}

/** Bad bytes or a bad value: the message says what and where (it reaches the MQTT response's log line). */
export class CodecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CodecError';
  }
}

const PRINTABLE = /^[^\u0000-\u0008\u000e-\u001f\u007f]*$/u;

/** Bytes of a resource with no known type: text when it is valid, printable UTF-8, else base64. */
export function untypedValue(bytes: Buffer): JsonValue {
  const text = bytes.toString('utf8');
  return Buffer.from(text, 'utf8').equals(bytes) && PRINTABLE.test(text) ? text : bytes.toString('base64');
}

function intFromBytes(b: Buffer, signed: boolean, where: string): number | string {
  if (b.length === 0 || b.length > 8) throw new CodecError(`${where}: an integer must be 1 to 8 bytes, got ${b.length}`);
  let v = 0n;
  for (const byte of b) v = (v << 8n) | BigInt(byte);
  if (signed && (b[0]! & 0x80) !== 0) v -= 1n << BigInt(b.length * 8);
  // Beyond 2^53 a JSON number would silently lose digits: such values are published as decimal text.
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
}

/** A TLV value (RFC-less: OMA-TS-LightweightM2M-V1_0 6.4.3 "TLV") typed by its definition. */
export function valueFromBytes(type: ResourceType | undefined, b: Buffer, where: string): JsonValue {
  switch (type) {
    case 'String':
    case 'Corelnk':
      return b.toString('utf8');
    case 'Integer':
    case 'Time':
      return intFromBytes(b, true, where);
    case 'Unsigned Integer':
      return intFromBytes(b, false, where);
    case 'Float':
      if (b.length === 4) return b.readFloatBE(0);
      if (b.length === 8) return b.readDoubleBE(0);
      throw new CodecError(`${where}: a Float must be 4 or 8 bytes, got ${b.length}`);
    case 'Boolean':
      if (b.length === 1 && (b[0] === 0 || b[0] === 1)) return b[0] === 1;
      throw new CodecError(`${where}: a Boolean must be one byte 0 or 1`);
    case 'Objlnk':
      if (b.length !== 4) throw new CodecError(`${where}: an Objlnk must be 4 bytes, got ${b.length}`);
      return `${b.readUInt16BE(0)}:${b.readUInt16BE(2)}`;
    case 'Opaque':
      return b.toString('base64');
    case 'none':
    case undefined:
      return untypedValue(b);
  }
}

/** A text/plain payload (LwM2M 1.0 6.4.1) typed by its definition. */
export function valueFromText(type: ResourceType | undefined, text: string, where: string): JsonValue {
  const t = text.trim();
  switch (type) {
    case 'Integer':
    case 'Time':
    case 'Unsigned Integer': {
      if (!/^[-+]?\d+$/.test(t) || (type === 'Unsigned Integer' && t.startsWith('-'))) throw new CodecError(`${where}: "${clip(t)}" is not an ${type}`);
      const n = Number(t);
      return Number.isSafeInteger(n) ? n : BigInt(t).toString();
    }
    case 'Float': {
      const n = Number(t);
      if (t === '' || !Number.isFinite(n)) throw new CodecError(`${where}: "${clip(t)}" is not a Float`);
      return n;
    }
    case 'Boolean':
      if (t === '1' || t === 'true') return true;
      if (t === '0' || t === 'false') return false;
      throw new CodecError(`${where}: "${clip(t)}" is not a Boolean (0 or 1)`);
    case 'Objlnk':
      if (!/^\d{1,5}:\d{1,5}$/.test(t)) throw new CodecError(`${where}: "${clip(t)}" is not an Objlnk (objectId:instanceId)`);
      return t;
    default:
      return text;
  }
}

const clip = (s: string) => (s.length > 40 ? `${s.slice(0, 40)}...` : s);

function toInteger(v: unknown, where: string): bigint {
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
  if (typeof v === 'string' && /^[-+]?\d+$/.test(v.trim())) return BigInt(v.trim());
  throw new CodecError(`${where}: ${JSON.stringify(v)} is not an integer`);
}

/** Shortest of 1, 2, 4 or 8 bytes that holds `n` (two's complement when signed). */
export function intToBytes(n: bigint, signed: boolean, where: string): Buffer {
  for (const size of [1, 2, 4, 8]) {
    const bits = BigInt(size * 8);
    const min = signed ? -(1n << (bits - 1n)) : 0n;
    const max = signed ? (1n << (bits - 1n)) - 1n : (1n << bits) - 1n;
    if (n < min || n > max) continue;
    const out = Buffer.alloc(size);
    return size === 8 ? writeBig(out, n, signed) : writeSmall(out, n);
  }
  throw new CodecError(`${where}: ${n} does not fit in 64 bits`);
}

function writeSmall(out: Buffer, n: bigint): Buffer {
  const u = BigInt.asUintN(out.length * 8, n);
  for (let i = out.length - 1, x = u; i >= 0; i--, x >>= 8n) out[i] = Number(x & 0xffn);
  return out;
}

function writeBig(out: Buffer, n: bigint, signed: boolean): Buffer {
  if (signed) out.writeBigInt64BE(n, 0);
  else out.writeBigUInt64BE(n, 0);
  return out;
}

/** A value from a write/create command as TLV value bytes. `hex`: Opaque (and any type) given as hex text. */
export function valueToBytes(type: ResourceType, v: unknown, where: string, hex = false): Buffer {
  if (hex) {
    if (typeof v !== 'string' || !/^([0-9a-fA-F]{2})*$/.test(v)) throw new CodecError(`${where}: ${JSON.stringify(v)} is not hex`);
    if (type === 'Opaque' || type === 'String') return Buffer.from(v, 'hex');
  }
  switch (type) {
    case 'String':
    case 'Corelnk':
      if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return Buffer.from(String(v), 'utf8');
      throw new CodecError(`${where}: ${JSON.stringify(v)} is not a String`);
    case 'Integer':
    case 'Time':
      return intToBytes(toInteger(v, where), true, where);
    case 'Unsigned Integer': {
      const n = toInteger(v, where);
      if (n < 0n) throw new CodecError(`${where}: ${n} is negative`);
      return intToBytes(n, false, where);
    }
    case 'Float': {
      const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
      if (!Number.isFinite(n)) throw new CodecError(`${where}: ${JSON.stringify(v)} is not a Float`);
      // 4 bytes when single precision holds it exactly, else 8 (both are valid TLV Floats).
      if (Math.fround(n) === n) {
        const b = Buffer.alloc(4);
        b.writeFloatBE(n, 0);
        return b;
      }
      const b = Buffer.alloc(8);
      b.writeDoubleBE(n, 0);
      return b;
    }
    case 'Boolean': {
      if (v === true || v === 'true' || v === 1 || v === '1') return Buffer.from([1]);
      if (v === false || v === 'false' || v === 0 || v === '0') return Buffer.from([0]);
      throw new CodecError(`${where}: ${JSON.stringify(v)} is not a Boolean`);
    }
    case 'Objlnk': {
      const m = typeof v === 'string' ? /^(\d{1,5}):(\d{1,5})$/.exec(v.trim()) : null;
      if (!m || Number(m[1]) > 0xffff || Number(m[2]) > 0xffff) throw new CodecError(`${where}: ${JSON.stringify(v)} is not an Objlnk ("objectId:instanceId")`);
      const b = Buffer.alloc(4);
      b.writeUInt16BE(Number(m[1]), 0);
      b.writeUInt16BE(Number(m[2]), 2);
      return b;
    }
    case 'Opaque':
      // EMQX sends the string's bytes as they are; binary data needs "encoding": "hex".
      if (typeof v === 'string') return Buffer.from(v, 'utf8');
      throw new CodecError(`${where}: an Opaque value must be a string (use "encoding": "hex" for binary)`);
    case 'none':
      return Buffer.alloc(0);
  }
}

/** A command value converted to its JSON type (for SenML/LwM2M JSON writes). */
export function jsonFromCommand(type: ResourceType, v: unknown, where: string, hex = false): { value: JsonValue; bytes?: Buffer } {
  switch (type) {
    case 'Integer':
    case 'Time':
    case 'Unsigned Integer': {
      const n = toInteger(v, where);
      if (type === 'Unsigned Integer' && n < 0n) throw new CodecError(`${where}: ${n} is negative`);
      return { value: Number(n) };
    }
    case 'Float':
    case 'Boolean': {
      const b = valueToBytes(type, v, where);
      return { value: valueFromBytes(type, b, where) };
    }
    case 'Opaque':
      return { value: '', bytes: valueToBytes(type, v, where, hex) };
    case 'Objlnk':
      return { value: valueFromBytes('Objlnk', valueToBytes(type, v, where), where) };
    default:
      return { value: hex ? valueToBytes(type, v, where, true).toString('utf8') : String(valueToBytes(type, v, where).toString('utf8')) };
  }
}
