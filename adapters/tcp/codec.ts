// Frame layout of the EMQX private TCP protocol v1 (emqx-tcp, Enterprise 3.2.2-4.4) and fieldgate's
// acknowledged v2. Pure functions over Buffers: no sockets, no timers, so both the gateway and the
// device simulator use them and the byte-level tests need no network. docs/tcp-protocol.md is the
// normative description; the comments here only say why a rule exists.
//
//   1 byte                 2 bytes (UINT16 BE)   N bytes
//   type << 4 | flags      payload length        payload
//
// PING, PONG and DISCONNECT are the 1-byte header alone.

export const FrameType = {
  CONNECT: 1,
  CONNACK: 2,
  DATATRANS: 3,
  PING: 4,
  PONG: 5,
  DISCONNECT: 6,
  /** v2 only; reserved in v1. */
  ACK: 7,
} as const;

/** The CONNECT flags nibble is the protocol version. */
export const V1 = 1;
export const V2 = 2;

export const ConnackCode = {
  SUCCESS: 0,
  AUTH_FAILED: 1,
  ILLEGAL_VERSION: 2,
  /** fieldgate: reserved in EMQX's table; any non-zero code is a refusal to a v1 device. */
  INVALID_CLIENTID: 3,
} as const;

/** The CONNACK messages emqx-tcp sends, so firmware that logs or compares them sees the same text. */
export const ConnackMessage: Record<number, string> = {
  0: 'Connect Successfully',
  1: 'Authentication Failure',
  2: 'Unsupported Protocol Version',
  3: 'Client Identifier Not Valid',
};

/** v2 ACK codes (flags nibble of the ACK frame), gateway -> device. */
export const AckCode = {
  ACCEPTED: 0,
  /** The ACL denied it; the message was dropped for good. Do not retry. */
  NOT_AUTHORIZED: 1,
  /** The gateway can never accept it (e.g. the topic is invalid). Do not retry. */
  REJECTED: 2,
  /** Not accepted now (a full queue, a stopping gateway). Keep it and retry later. */
  RETRY_LATER: 3,
} as const;

/** v2 DATATRANS flags: bits 3-2 QoS (emqx-tcp's field, always 0 in v1), bit 1 DUP. */
export const DT_QOS1 = 0x04;
export const DT_DUP = 0x02;

export const MAX_PAYLOAD = 0xffff;

/** A frame as the parser delivers it: header split, payload copied out of the socket's chunk. */
export interface RawFrame {
  type: number;
  flags: number;
  /** Empty for the 1-byte frames. */
  payload: Buffer;
}

export interface ConnectPacket {
  version: number;
  keepalive: number;
  /** v2: resume a stored session (downlinks queued while away are delivered). */
  resume: boolean;
  clientid: string;
  username?: string;
  password?: Buffer;
}

export interface DataPacket {
  qos: 0 | 1;
  dup: boolean;
  /** v2 QoS 1 only. */
  id?: number;
  data: Buffer;
}

/** What made a frame illegal: always reported, never thrown past the adapter. */
export class FrameError extends Error {
  constructor(readonly reason: 'parse_error' | 'frame_too_large', message: string) {
    super(message);
    this.name = 'FrameError';
  }
}

/** Types with no length field. */
export function isSingleByte(type: number): boolean {
  return type === FrameType.PING || type === FrameType.PONG || type === FrameType.DISCONNECT;
}

// ---------------------------------------------------------------------------------------------
// Encoding

function frame(header: number, payload: Buffer): Buffer {
  if (payload.length > MAX_PAYLOAD) throw new RangeError(`payload of ${payload.length} bytes does not fit the 16-bit length field (max ${MAX_PAYLOAD})`);
  const out = Buffer.allocUnsafe(3 + payload.length);
  out[0] = header;
  out.writeUInt16BE(payload.length, 1);
  payload.copy(out, 3);
  return out;
}

function str(v: string | Buffer): Buffer {
  const b = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
  if (b.length > MAX_PAYLOAD) throw new RangeError(`string of ${b.length} bytes does not fit its 16-bit length prefix`);
  const out = Buffer.allocUnsafe(2 + b.length);
  out.writeUInt16BE(b.length, 0);
  b.copy(out, 2);
  return out;
}

export const PING = Buffer.from([0x40]);
export const PONG = Buffer.from([0x50]);
export const DISCONNECT = Buffer.from([0x60]);

export function encodeConnect(p: { version?: number; keepalive: number; resume?: boolean; clientid: string; username?: string; password?: string | Buffer }): Buffer {
  const version = p.version ?? V1;
  if (!Number.isInteger(p.keepalive) || p.keepalive < 0 || p.keepalive > 255) throw new RangeError(`keepalive ${p.keepalive} is not 0..255 seconds`);
  const parts: Buffer[] = [Buffer.from([p.keepalive])];
  // v2 inserts one flags byte after keepalive; v1's layout is untouched.
  if (version === V2) parts.push(Buffer.from([p.resume ? 1 : 0]));
  parts.push(str(p.clientid));
  if (p.username !== undefined || p.password !== undefined) parts.push(str(p.username ?? ''));
  if (p.password !== undefined) parts.push(str(p.password));
  return frame(0x10 | (version & 0x0f), Buffer.concat(parts));
}

/** v1: payload = message. v2 (`sessionPresent` given): payload = flags byte + message. */
export function encodeConnack(code: number, message = ConnackMessage[code] ?? '', sessionPresent?: boolean): Buffer {
  const msg = Buffer.from(message, 'utf8');
  const payload = sessionPresent === undefined ? msg : Buffer.concat([Buffer.from([sessionPresent ? 1 : 0]), msg]);
  return frame(0x20 | (code & 0x0f), payload);
}

export function encodeData(data: Buffer, opts: { id?: number; dup?: boolean } = {}): Buffer {
  if (opts.id === undefined) return frame(0x30, data);
  const head = Buffer.allocUnsafe(2);
  head.writeUInt16BE(opts.id & 0xffff, 0);
  return frame(0x30 | DT_QOS1 | (opts.dup ? DT_DUP : 0), Buffer.concat([head, data]));
}

export function encodeAck(id: number, code = 0): Buffer {
  return Buffer.from([0x70 | (code & 0x0f), 0, 2, (id >> 8) & 0xff, id & 0xff]);
}

// ---------------------------------------------------------------------------------------------
// Decoding (the parser has already checked the header and cut the payload)

class Reader {
  private pos = 0;
  constructor(private readonly b: Buffer, private readonly what: string) {}
  get remaining(): number {
    return this.b.length - this.pos;
  }
  u8(): number {
    if (this.remaining < 1) throw new FrameError('parse_error', `${this.what}: truncated at byte ${this.pos}`);
    return this.b[this.pos++]!;
  }
  u16(): number {
    if (this.remaining < 2) throw new FrameError('parse_error', `${this.what}: truncated at byte ${this.pos}`);
    const v = this.b.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  bin(field: string): Buffer {
    const n = this.u16();
    if (this.remaining < n) throw new FrameError('parse_error', `${this.what}: ${field} claims ${n} bytes but only ${this.remaining} remain`);
    const v = this.b.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }
  rest(): Buffer {
    const v = this.b.subarray(this.pos);
    this.pos = this.b.length;
    return v;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function text(b: Buffer, field: string): string {
  try {
    return utf8.decode(b);
  } catch {
    throw new FrameError('parse_error', `CONNECT: ${field} is not valid UTF-8`);
  }
}

/**
 * Decodes a CONNECT payload for a known version (the caller answers unknown versions with
 * CONNACK 2). Fields are positional; anything after the password makes the packet illegal, as
 * emqx-tcp requires.
 */
export function decodeConnect(version: number, payload: Buffer): ConnectPacket {
  const r = new Reader(payload, 'CONNECT');
  const keepalive = r.u8();
  let resume = false;
  if (version === V2) {
    const f = r.u8();
    if (f & 0xfe) throw new FrameError('parse_error', `CONNECT: reserved connect flags set (0x${f.toString(16)})`);
    resume = (f & 1) === 1;
  }
  const clientid = text(r.bin('client id'), 'client id');
  const username = r.remaining > 0 ? text(r.bin('username'), 'username') : undefined;
  const password = r.remaining > 0 ? Buffer.from(r.bin('password')) : undefined;
  if (r.remaining > 0) throw new FrameError('parse_error', `CONNECT: ${r.remaining} unexpected bytes after the password`);
  return { version, keepalive, resume, clientid, username, password };
}

/** DATATRANS from a device; `version` decides whether the QoS bits may be set. */
export function decodeData(version: number, f: RawFrame): DataPacket {
  const qosBits = (f.flags >> 2) & 3;
  if (version === V1 || qosBits === 0) {
    // v1: QoS is always 0 and the low bits are reserved; v2 QoS 0 is byte-identical to v1.
    if (f.flags !== 0) throw new FrameError('parse_error', `DATATRANS: flags 0x${f.flags.toString(16)} are not allowed${version === V1 ? ' in v1' : ' without QoS 1'}`);
    return { qos: 0, dup: false, data: f.payload };
  }
  if (qosBits !== 1 || f.flags & 1) throw new FrameError('parse_error', `DATATRANS: flags 0x${f.flags.toString(16)} (QoS ${qosBits}) are not supported`);
  if (f.payload.length < 2) throw new FrameError('parse_error', 'DATATRANS QoS 1: no message id');
  return { qos: 1, dup: (f.flags & DT_DUP) !== 0, id: f.payload.readUInt16BE(0), data: f.payload.subarray(2) };
}

export function decodeAck(f: RawFrame): { id: number; code: number } {
  if (f.payload.length !== 2) throw new FrameError('parse_error', `ACK: payload must be 2 bytes, got ${f.payload.length}`);
  return { id: f.payload.readUInt16BE(0), code: f.flags };
}

/** Device side: CONNACK for a CONNECT of `version`. */
export function decodeConnack(version: number, f: RawFrame): { code: number; sessionPresent: boolean; message: string } {
  // Code 2 (bad version) is sent before the gateway knows a version, so it is always v1-shaped.
  if (version === V2 && f.flags !== ConnackCode.ILLEGAL_VERSION) {
    if (f.payload.length < 1) throw new FrameError('parse_error', 'CONNACK v2: no flags byte');
    return { code: f.flags, sessionPresent: (f.payload[0]! & 1) === 1, message: f.payload.subarray(1).toString('utf8') };
  }
  return { code: f.flags, sessionPresent: false, message: f.payload.toString('utf8') };
}

/** A frame as hex, for log lines about bad input (bounded so a 64 KB frame cannot flood the log). */
export function hexPreview(b: Buffer, max = 32): string {
  const h = b.subarray(0, max).toString('hex').replace(/(..)(?!$)/g, '$1 ');
  return b.length > max ? `${h} ... (${b.length} bytes)` : h;
}
