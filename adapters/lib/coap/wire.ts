// CoAP message framing checks (RFC 7252 section 3) and the few replies the adapter builds itself.
// coap-packet's parser is lenient (it truncates an option that runs past the datagram, accepts
// reserved token lengths), so every datagram is checked here before anything else reads it.
import { generate } from 'coap-packet';

export const TYPE = { CON: 0, NON: 1, ACK: 2, RST: 3 } as const;
export type MessageType = (typeof TYPE)[keyof typeof TYPE];

/** Option numbers used by the adapter (RFC 7252, 7641, 7959, 9175). */
export const OPT = {
  ETag: 4,
  Observe: 6,
  UriPath: 11,
  ContentFormat: 12,
  MaxAge: 14,
  UriQuery: 15,
  Block2: 23,
  Block1: 27,
  Size2: 28,
  Size1: 60,
  RequestTag: 292,
} as const;

export interface Header {
  type: MessageType;
  /** Code as class * 32 + detail, e.g. 0x02 for POST, 0x45 for 2.05. */
  code: number;
  messageId: number;
  tokenLength: number;
}

export type Checked = { ok: true; header: Header } | { ok: false; reason: string; header?: Header };

/** Reads the 4-byte header, or undefined when there is not even that (nothing can be answered). */
export function readHeader(buf: Buffer): Header | undefined {
  if (buf.length < 4) return undefined;
  const b0 = buf[0];
  if (b0! >> 6 !== 1) return undefined; // RFC 7252 3: unknown version MUST be silently ignored
  return { type: ((b0! >> 4) & 3) as MessageType, code: buf[1]!, messageId: buf.readUInt16BE(2), tokenLength: b0! & 15 };
}

/**
 * Checks a datagram's framing: version, token length, empty-message rules, option encoding and
 * lengths, and payload marker. Returns why it is malformed, with the header when one was readable
 * (so a Confirmable message can still be rejected with a Reset).
 */
export function checkDatagram(buf: Buffer): Checked {
  const header = readHeader(buf);
  if (!header) return { ok: false, reason: buf.length < 4 ? 'shorter than a CoAP header' : 'not CoAP version 1' };
  const fail = (reason: string): Checked => ({ ok: false, reason, header });
  // Token lengths 9-15 are reserved (RFC 7252 3); RFC 8974 extended tokens are not accepted.
  if (header.tokenLength > 8) return fail(`token length ${header.tokenLength} is reserved`);
  if (header.code === 0) {
    // An Empty message is exactly 4 bytes (RFC 7252 4.1).
    return buf.length === 4 && header.tokenLength === 0 ? { ok: true, header } : fail('empty message with a token, options or payload');
  }
  const cls = header.code >> 5;
  if (cls === 1 || cls >= 6) return fail(`reserved code class ${cls}`);
  let i = 4 + header.tokenLength;
  if (i > buf.length) return fail('token runs past the end of the datagram');
  while (i < buf.length) {
    const byte = buf[i];
    if (byte === 0xff) {
      // A payload marker followed by zero bytes is a format error (RFC 7252 3).
      return i + 1 < buf.length ? { ok: true, header } : fail('payload marker without a payload');
    }
    i++;
    let delta = byte! >> 4;
    let len = byte! & 15;
    if (delta === 15 || len === 15) return fail('reserved option nibble 15');
    if (delta === 13) {
      if (i + 1 > buf.length) return fail('option delta runs past the end');
      delta = buf[i]! + 13;
      i += 1;
    } else if (delta === 14) {
      if (i + 2 > buf.length) return fail('option delta runs past the end');
      delta = buf.readUInt16BE(i) + 269;
      i += 2;
    }
    if (len === 13) {
      if (i + 1 > buf.length) return fail('option length runs past the end');
      len = buf[i]! + 13;
      i += 1;
    } else if (len === 14) {
      if (i + 2 > buf.length) return fail('option length runs past the end');
      len = buf.readUInt16BE(i) + 269;
      i += 2;
    }
    if (i + len > buf.length) return fail('option value runs past the end');
    i += len;
    void delta;
  }
  return { ok: true, header };
}

/** "2.05" style text for a numeric code. */
export function codeText(code: number): string {
  return `${code >> 5}.${String(code & 31).padStart(2, '0')}`;
}

export function isRequestCode(code: number): boolean {
  return code >> 5 === 0 && code !== 0;
}

/** RST for a message that cannot be processed (RFC 7252 4.2, 4.3). */
export function resetFor(messageId: number): Buffer {
  return generate({ messageId, code: '0.00', reset: true, confirmable: false, ack: false, token: Buffer.alloc(0), options: [], payload: Buffer.alloc(0) });
}

/** The empty ACK that precedes a separate response (RFC 7252 5.2.2). */
export function emptyAckFor(messageId: number): Buffer {
  return generate({ messageId, code: '0.00', reset: false, confirmable: false, ack: true, token: Buffer.alloc(0), options: [], payload: Buffer.alloc(0) });
}

/**
 * A response the adapter sends without node-coap (rate limit, internal error): piggy-backed in an
 * ACK for a CON request, a NON otherwise.
 */
export function replyFor(
  req: { confirmable: boolean; messageId: number; token: Buffer },
  code: string,
  options: { name: string | number; value: Buffer }[] = [],
  payload?: Buffer,
  nextMessageId?: () => number,
): Buffer {
  return generate({
    code,
    messageId: req.confirmable ? req.messageId : (nextMessageId?.() ?? (req.messageId + 1) & 0xffff),
    token: req.token,
    ack: req.confirmable,
    confirmable: false,
    reset: false,
    options: options as never,
    payload: payload ?? Buffer.alloc(0),
  });
}

/** Encodes an unsigned option value in the fewest bytes (RFC 7252 3.2 uint format). */
export function uintOption(n: number): Buffer {
  if (n === 0) return Buffer.alloc(0);
  const bytes: number[] = [];
  let v = n;
  while (v > 0) {
    bytes.unshift(v & 0xff);
    v = Math.floor(v / 256);
  }
  return Buffer.from(bytes);
}

export function readUint(b: Buffer | undefined): number | undefined {
  if (!b) return undefined;
  if (b.length > 4) return undefined;
  let v = 0;
  for (const x of b) v = v * 256 + x;
  return v;
}
