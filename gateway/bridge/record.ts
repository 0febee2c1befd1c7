import { crc32 } from 'node:zlib';

// One queued message on disk. A frame is
//
//   magic  u16  0xF6 0x47     lets a reader find the next frame after a damaged region
//   len    u32  body length   big endian
//   crc    u32  CRC-32 of body
//   body:  seq u48 | ts u48 (ms) | mask u32 | flags u8 (bit0 qos, bit1 retain) | topicLen u16 | topic | payload
//
// The seq number is stored (not implied by position) so that a reader that skipped a damaged region
// knows exactly how many messages it lost, and so the stable message id survives any re-read.

export const MAGIC0 = 0xf6;
export const MAGIC1 = 0x47;
export const HEADER = 10;
const FIXED_BODY = 6 + 6 + 4 + 1 + 2;
/** Larger than any frame the broker lets in (max_packet_size is capped well below). */
export const MAX_BODY = 256 * 1024 * 1024;

export interface NewRecord {
  topic: string;
  payload: Buffer;
  qos: 0 | 1;
  retain: boolean;
  /** One bit per upstream (bit numbers are kept stable in the log's meta file). */
  mask: number;
}

export interface LogRecord extends NewRecord {
  seq: number;
  ts: number;
}

export function frameSize(topic: string, payload: Buffer): number {
  return HEADER + FIXED_BODY + Buffer.byteLength(topic) + payload.length;
}

/** Writes `rec` as one frame into `out` at `at`; returns the frame length. */
export function encodeInto(rec: LogRecord, out: Buffer, at: number): number {
  const topicLen = out.write(rec.topic, at + HEADER + FIXED_BODY, 'utf8');
  const bodyStart = at + HEADER;
  let o = bodyStart;
  out.writeUIntBE(rec.seq, o, 6);
  o += 6;
  out.writeUIntBE(rec.ts, o, 6);
  o += 6;
  out.writeUInt32BE(rec.mask >>> 0, o);
  o += 4;
  out.writeUInt8((rec.qos & 1) | (rec.retain ? 2 : 0), o);
  o += 1;
  out.writeUInt16BE(topicLen, o);
  o += 2 + topicLen;
  rec.payload.copy(out, o);
  o += rec.payload.length;
  const bodyLen = o - bodyStart;
  out[at] = MAGIC0;
  out[at + 1] = MAGIC1;
  out.writeUInt32BE(bodyLen, at + 2);
  out.writeUInt32BE(crc32(out.subarray(bodyStart, o)), at + 6);
  return o - at;
}

export type Decoded =
  | { kind: 'record'; rec: LogRecord; size: number }
  /** Not enough bytes in `buf` for the whole frame; `need` is the frame's full size if known. */
  | { kind: 'partial'; need: number }
  | { kind: 'bad'; why: string };

/**
 * Decodes the frame at `buf[at]`. The payload is a view into `buf` (no copy): callers keep a
 * record only as long as it is in flight.
 */
export function decodeAt(buf: Buffer, at: number): Decoded {
  const avail = buf.length - at;
  if (avail < HEADER) return { kind: 'partial', need: HEADER };
  if (buf[at] !== MAGIC0 || buf[at + 1] !== MAGIC1) return { kind: 'bad', why: 'no frame marker' };
  const len = buf.readUInt32BE(at + 2);
  if (len < FIXED_BODY || len > MAX_BODY) return { kind: 'bad', why: `implausible frame length ${len}` };
  if (avail < HEADER + len) return { kind: 'partial', need: HEADER + len };
  const body = buf.subarray(at + HEADER, at + HEADER + len);
  if (crc32(body) !== buf.readUInt32BE(at + 6)) return { kind: 'bad', why: 'checksum mismatch' };
  const seq = body.readUIntBE(0, 6);
  const ts = body.readUIntBE(6, 6);
  const mask = body.readUInt32BE(12);
  const flags = body[16];
  const topicLen = body.readUInt16BE(17);
  if (FIXED_BODY + topicLen > len) return { kind: 'bad', why: 'topic longer than frame' };
  const topic = body.toString('utf8', FIXED_BODY, FIXED_BODY + topicLen);
  const payload = body.subarray(FIXED_BODY + topicLen);
  return { kind: 'record', rec: { seq, ts, mask, qos: (flags! & 1) as 0 | 1, retain: (flags! & 2) !== 0, topic, payload }, size: HEADER + len };
}

/** The offset of the next byte pair that looks like a frame marker at or after `from`, or -1. */
export function findMarker(buf: Buffer, from: number): number {
  for (let i = Math.max(0, from); i < buf.length - 1; i++) {
    if (buf[i] === MAGIC0 && buf[i + 1] === MAGIC1) return i;
  }
  return -1;
}

/** A small, fast string hash (FNV-1a) for the per-topic ordering buckets. */
export function topicBucket(topic: string, buckets: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < topic.length; i++) {
    h ^= topic.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % buckets;
}
