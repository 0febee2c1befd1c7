// The device side of fieldgate's TCP protocol, written from docs/tcp-protocol.md (sections 2-4)
// and not from the adapter's codec, so that the tests driving the gateway with this client check
// the gateway against the document, not against itself. (The C client in ../c is a second,
// independent reading of the same document.)
//
// Frame: header byte (type << 4 | flags), then for every type but PING, PONG and DISCONNECT a
// UINT16 big-endian payload length and the payload. STR = UINT16 length + bytes.

export const V1 = 1;
export const V2 = 2;

/** Frame types (docs/tcp-protocol.md section 2). */
export const Type = { CONNECT: 1, CONNACK: 2, DATATRANS: 3, PING: 4, PONG: 5, DISCONNECT: 6, ACK: 7 } as const;

/** ACK codes (section 4): 3 = not accepted now, keep the message and retry. */
export const Ack = { ACCEPTED: 0, NOT_AUTHORIZED: 1, REJECTED: 2, RETRY_LATER: 3 } as const;

export const PING = Buffer.from([0x40]);
export const DISCONNECT = Buffer.from([0x60]);

function str(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  const out = Buffer.alloc(2 + b.length);
  out.writeUInt16BE(b.length, 0);
  b.copy(out, 2);
  return out;
}

function frame(header: number, payload: Buffer): Buffer {
  if (payload.length > 0xffff) throw new Error(`payload of ${payload.length} bytes: a frame carries at most 65535`);
  const out = Buffer.alloc(3 + payload.length);
  out[0] = header;
  out.writeUInt16BE(payload.length, 1);
  payload.copy(out, 3);
  return out;
}

export interface ConnectFields {
  version: number;
  /** Seconds, 0-255. */
  keepalive: number;
  /** v2 only: connect-flags bit 0. */
  resume?: boolean;
  clientid: string;
  username?: string;
  password?: string;
}

/** `1V | Len | Keepalive | [v2: ConnectFlags] | ClientId | [Username] | [Password]`: a password needs a username before it. */
export function connectFrame(c: ConnectFields): Buffer {
  const parts: Buffer[] = [Buffer.from([c.keepalive & 0xff])];
  if (c.version === V2) parts.push(Buffer.from([c.resume ? 1 : 0]));
  parts.push(str(c.clientid));
  if (c.username !== undefined || c.password !== undefined) parts.push(str(c.username ?? ''));
  if (c.password !== undefined) parts.push(str(c.password));
  return frame((Type.CONNECT << 4) | (c.version & 0x0f), Buffer.concat(parts));
}

/** QoS 0: `30 | Len | Data`. QoS 1 (v2): `34 | Len | Id | Data`, `36` when it is a retransmission (DUP). */
export function dataFrame(data: Buffer, qos1?: { id: number; dup?: boolean }): Buffer {
  if (!qos1) return frame(Type.DATATRANS << 4, data);
  const body = Buffer.alloc(2 + data.length);
  body.writeUInt16BE(qos1.id, 0);
  data.copy(body, 2);
  return frame((Type.DATATRANS << 4) | 0x04 | (qos1.dup ? 0x02 : 0), body);
}

/** The device's ACK of a QoS 1 downlink: `70 00 02 <id>`. */
export function ackFrame(id: number): Buffer {
  const body = Buffer.alloc(2);
  body.writeUInt16BE(id, 0);
  return frame(Type.ACK << 4, body);
}

const FROM_GATEWAY: ReadonlySet<number> = new Set([Type.CONNACK, Type.DATATRANS, Type.PONG, Type.ACK]);

/** What a device receives from the gateway. */
export type GatewayFrame =
  | { type: 'connack'; code: number; sessionPresent: boolean; message: string }
  | { type: 'data'; qos: 0 | 1; id?: number; dup: boolean; data: Buffer }
  | { type: 'ack'; id: number; code: number }
  | { type: 'pong' };

/**
 * Reads the gateway's byte stream into frames: a read may hold half a frame or several. `version`
 * is the one the device connected with: a v2 CONNACK starts with a flags byte, a v1 one does not;
 * CONNACK 2 (version not understood) is always v1-shaped.
 */
export class GatewayReader {
  private buf: Buffer = Buffer.alloc(0);

  constructor(private readonly version: number) {}

  /** Returns the complete frames in `chunk` (and earlier leftovers); throws on bytes the document does not allow. */
  push(chunk: Buffer): GatewayFrame[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: GatewayFrame[] = [];
    for (;;) {
      if (this.buf.length === 0) return out;
      const header = this.buf[0]!;
      const type = header >> 4;
      const flags = header & 0x0f;
      if (!FROM_GATEWAY.has(type)) throw new Error(`frame type ${type}, which the gateway never sends`);
      if (type === Type.PONG) {
        if (flags !== 0) throw new Error(`PONG with flags ${flags}`);
        out.push({ type: 'pong' });
        this.buf = this.buf.subarray(1);
        continue;
      }
      if (this.buf.length < 3) return out;
      const len = this.buf.readUInt16BE(1);
      if (this.buf.length < 3 + len) return out;
      const body = this.buf.subarray(3, 3 + len);
      this.buf = this.buf.subarray(3 + len);
      out.push(this.decode(type, flags, Buffer.from(body)));
    }
  }

  private decode(type: number, flags: number, body: Buffer): GatewayFrame {
    switch (type) {
      case Type.CONNACK: {
        const flagged = this.version === V2 && flags !== 2;
        if (flagged && body.length < 1) throw new Error('v2 CONNACK without its flags byte');
        return { type: 'connack', code: flags, sessionPresent: flagged && (body[0]! & 1) === 1, message: body.subarray(flagged ? 1 : 0).toString('utf8') };
      }
      case Type.DATATRANS: {
        if (flags === 0) return { type: 'data', qos: 0, dup: false, data: body };
        if ((flags & 0x0c) !== 0x04 || (flags & 0x01) !== 0) throw new Error(`DATATRANS with flags ${flags}`);
        if (body.length < 2) throw new Error('QoS 1 DATATRANS without a message id');
        return { type: 'data', qos: 1, id: body.readUInt16BE(0), dup: (flags & 0x02) !== 0, data: body.subarray(2) };
      }
      default: // ACK: push() lets only the gateway's four types through, and handles PONG itself
        if (body.length !== 2) throw new Error(`ACK of ${body.length} bytes (must be 2)`);
        return { type: 'ack', id: body.readUInt16BE(0), code: flags };
    }
  }
}
