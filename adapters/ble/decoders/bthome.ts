import { ccmDecrypt } from './ccm.ts';
import { BTHOME_OBJECTS, BUTTON_EVENTS, COMMAND_OPCODES, DIMMER_EVENTS, type BthomeObject } from './bthome-objects.ts';
import { decimalsOf, fail, round, withFahrenheit, type DecodeKeys, type DecodeResult, type Value } from './types.ts';

// BTHome v2 (bthome.io/format, bthome.io/encryption): service data under UUID 0xFCD2; a
// device-information byte, then object id + little-endian value pairs, in ascending id order.

export const BTHOME_UUID = 'fcd2';
const FORMAT = 'bthome';

type Values = Record<string, Value>;

/** Adds `key`, or key2, key3 ... when the device sends the same property again (bthome.io: "in order"). */
function put(values: Values, key: string, v: Value): void {
  if (!(key in values)) {
    values[key] = v;
    return;
  }
  let i = 2;
  while (`${key}${i}` in values) i++;
  values[`${key}${i}`] = v;
}

function readInt(buf: Buffer, at: number, len: number, signed: boolean): number {
  return signed ? buf.readIntLE(at, len) : buf.readUIntLE(at, len);
}

/** Bytes an object's value occupies at `at` (after the id), or an error text. */
function valueLength(obj: BthomeObject, buf: Buffer, at: number): number | string {
  switch (obj.kind) {
    case 'number':
      return obj.len;
    case 'bool':
    case 'button':
      return 1;
    case 'dimmer':
      return 2;
    case 'fw4':
      return 4;
    case 'fw3':
      return 3;
    case 'text':
    case 'raw':
      return at < buf.length ? 1 + buf.readUInt8(at) : 'length byte missing';
    case 'command':
      return at < buf.length ? 2 + (buf.readUInt8(at) & 0x1f) : 'length byte missing';
  }
}

function readObject(obj: BthomeObject, buf: Buffer, at: number, values: Values): void {
  switch (obj.kind) {
    case 'number': {
      const raw = readInt(buf, at, obj.len, obj.signed);
      put(values, obj.key, obj.factor === 1 ? raw : round(raw * obj.factor, decimalsOf(obj.factor)));
      return;
    }
    case 'bool':
      put(values, obj.key, buf.readUInt8(at) !== 0);
      return;
    case 'button': {
      const code = buf.readUInt8(at);
      const ev = BUTTON_EVENTS.get(code);
      put(values, 'button', ev ? ev.theengs : code);
      put(values, 'button_event', ev ? ev.name : `unknown_0x${code.toString(16).padStart(2, '0')}`);
      return;
    }
    case 'dimmer': {
      const code = buf.readUInt8(at);
      put(values, 'dimmer', DIMMER_EVENTS[code] ?? `unknown_0x${code.toString(16).padStart(2, '0')}`);
      put(values, 'steps', buf.readUInt8(at + 1));
      return;
    }
    case 'command': {
      const argLen = buf.readUInt8(at) & 0x1f;
      const op = buf.readUInt8(at + 1);
      const args = buf.subarray(at + 2, at + 2 + argLen);
      put(values, 'command', COMMAND_OPCODES[op] ?? `opcode_0x${op.toString(16).padStart(2, '0')}`);
      if ((op === 3 || op === 4) && argLen > 0) put(values, 'steps', args.readUIntLE(0, Math.min(argLen, 4)));
      else if (argLen > 0) put(values, 'command_args', args.toString('hex'));
      return;
    }
    case 'text':
      put(values, 'text', buf.subarray(at + 1, at + 1 + buf.readUInt8(at)).toString('utf8'));
      return;
    case 'raw':
      put(values, 'raw', buf.subarray(at + 1, at + 1 + buf.readUInt8(at)).toString('hex'));
      return;
    case 'fw4':
    case 'fw3': {
      // Sent least significant part first: F1 00 01 02 04 is 4.2.1.0.
      const parts = [...buf.subarray(at, at + (obj.kind === 'fw4' ? 4 : 3))].reverse();
      put(values, 'fw', parts.join('.'));
      return;
    }
  }
}

/** Parses the object list (plaintext). Unknown ids end the parse, as the spec tells receivers to. */
export function parseObjects(buf: Buffer): { values: Values; packetId?: number } | string {
  const values: Values = {};
  let packetId: number | undefined;
  let at = 0;
  while (at < buf.length) {
    const id = buf.readUInt8(at);
    const obj = BTHOME_OBJECTS.get(id);
    if (!obj) break;
    const len = valueLength(obj, buf, at + 1);
    if (typeof len === 'string') return `object 0x${id.toString(16).padStart(2, '0')} at byte ${at}: ${len}`;
    if (at + 1 + len > buf.length) return `object 0x${id.toString(16).padStart(2, '0')} at byte ${at} needs ${len} bytes, ${buf.length - at - 1} left`;
    if (id === 0x00) packetId = buf.readUInt8(at + 1);
    readObject(obj, buf, at + 1, values);
    at += 1 + len;
  }
  return { values, packetId };
}

function macBytes(address: string): Buffer | undefined {
  const hex = address.replace(/[:-]/g, '');
  return /^[0-9a-fA-F]{12}$/.test(hex) ? Buffer.from(hex, 'hex') : undefined;
}

function decrypt(data: Buffer, address: string, keys: DecodeKeys): { plain: Buffer; counter: number } | string {
  if (data.length < 1 + 8) return `encrypted advertisement of ${data.length} bytes is too short (device info + counter + MIC need 9)`;
  const key = keys.bindkeys?.get(address.toLowerCase());
  if (!key) return `encrypted BTHome advertisement from ${address} and no bindkey configured for it (adapters.ble.devices."${address}".bindkey)`;
  const mac = macBytes(address);
  if (!mac) return `cannot build the nonce: "${address}" is not a MAC address`;
  const counterBytes = data.subarray(data.length - 8, data.length - 4);
  const nonce = Buffer.concat([mac, Buffer.from([0xd2, 0xfc]), data.subarray(0, 1), counterBytes]);
  const plain = ccmDecrypt(key, nonce, data.subarray(1, data.length - 8), data.subarray(data.length - 4));
  if (!plain) return `MIC check failed for ${address}: wrong bindkey, or a damaged or spoofed advertisement`;
  return { plain, counter: counterBytes.readUInt32LE(0) };
}

/** Decodes BTHome v2 service data (the bytes after UUID 0xFCD2). */
export function decodeBthome(data: Buffer, address: string, keys: DecodeKeys = {}): DecodeResult {
  if (data.length < 1) return fail(FORMAT, 'empty service data: no device information byte');
  const info = data.readUInt8(0);
  const version = info >> 5;
  if (version !== 2) return fail(FORMAT, `BTHome version ${version} in device information byte 0x${info.toString(16).padStart(2, '0')} (only v2 is supported)`);
  const encrypted = (info & 0x01) === 1;
  let payload = data.subarray(1);
  let counter: number | undefined;
  if (encrypted) {
    const d = decrypt(data, address, keys);
    if (typeof d === 'string') return fail(FORMAT, d);
    payload = d.plain;
    counter = d.counter;
  }
  const parsed = parseObjects(payload);
  if (typeof parsed === 'string') return fail(FORMAT, parsed);
  const values = withFahrenheit(parsed.values);
  return { ok: true, format: FORMAT, values, meta: { packetId: parsed.packetId, counter, encrypted, triggerBased: (info & 0x04) !== 0 } };
}
