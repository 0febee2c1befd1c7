import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { crc32 } from 'node:zlib';

// The broker's session store on disk (journal and snapshot alike) is a sequence of frames:
//
//   len   u32  body length, big endian
//   crc   u32  CRC-32 of the body
//   body: kind u8 | jsonLen u32 | json (the record's fields) | payload (raw bytes, the rest)
//
// A frame that is cut short or whose CRC does not match ends the file for the reader: a crash or
// power cut can only tear the last write, and everything before it was fsync'd whole.

export const FRAME_HEADER = 8;
/** Far above any record: max_packet_size is capped well below this. */
const MAX_BODY = 256 * 1024 * 1024;

export interface FrameRecord {
  kind: number;
  fields: Record<string, unknown>;
  payload?: Buffer;
}

export function encodeFrame(rec: FrameRecord): Buffer {
  const json = Buffer.from(JSON.stringify(rec.fields));
  const payloadLen = rec.payload?.length ?? 0;
  const body = 1 + 4 + json.length + payloadLen;
  const out = Buffer.allocUnsafe(FRAME_HEADER + body);
  let o = FRAME_HEADER;
  out.writeUInt8(rec.kind, o);
  out.writeUInt32BE(json.length, o + 1);
  o += 5;
  json.copy(out, o);
  o += json.length;
  if (rec.payload) rec.payload.copy(out, o);
  out.writeUInt32BE(body, 0);
  out.writeUInt32BE(crc32(out.subarray(FRAME_HEADER)), 4);
  return out;
}

// Buffers inside MQTT 5 properties (correlation data...) come back as Buffers, not {type, data}.
function revive(_key: string, v: unknown): unknown {
  const b = v as { type?: unknown; data?: unknown };
  return b && typeof b === 'object' && b.type === 'Buffer' && Array.isArray(b.data) ? Buffer.from(b.data as number[]) : v;
}

function decodeBody(body: Buffer): FrameRecord | undefined {
  if (body.length < 5) return undefined;
  const jsonLen = body.readUInt32BE(1);
  if (5 + jsonLen > body.length) return undefined;
  try {
    const fields = JSON.parse(body.toString('utf8', 5, 5 + jsonLen), revive) as Record<string, unknown>;
    if (!fields || typeof fields !== 'object') return undefined;
    // A copy: the reader's chunk is reused, and a queued message may live for hours.
    const payload = 5 + jsonLen < body.length ? Buffer.from(body.subarray(5 + jsonLen)) : undefined;
    return { kind: body[0]!, fields, ...(payload && { payload }) };
  } catch {
    return undefined;
  }
}

export interface ReadResult {
  /** Bytes of whole, valid frames from the start of the file. */
  goodBytes: number;
  /** Bytes after them that held no valid frame (a torn tail). */
  badBytes: number;
  records: number;
}

/**
 * Reads the frames of `file` in order, calling `onRecord` for each, until the end or the first
 * frame that is torn or fails its CRC. Reads in chunks, so a large file never sits in memory whole.
 */
export function readFrames(file: string, onRecord: (r: FrameRecord) => void, chunk = 1024 * 1024): ReadResult {
  const fd = openSync(file, 'r');
  try {
    let buf = Buffer.alloc(0);
    let bufPos = 0; // file offset of buf[0]
    let pos = 0;
    let eof = false;
    let records = 0;
    const ensure = (n: number): boolean => {
      while (pos + n > bufPos + buf.length && !eof) {
        const keep = buf.subarray(pos - bufPos);
        const more = Buffer.allocUnsafe(Math.max(chunk, n));
        const got = readSync(fd, more, 0, more.length, bufPos + buf.length);
        if (got === 0) eof = true;
        buf = Buffer.concat([keep, more.subarray(0, got)]);
        bufPos = pos;
      }
      return pos + n <= bufPos + buf.length;
    };
    for (;;) {
      if (!ensure(FRAME_HEADER)) break;
      const at = pos - bufPos;
      const len = buf.readUInt32BE(at);
      const crc = buf.readUInt32BE(at + 4);
      if (len < 5 || len > MAX_BODY || !ensure(FRAME_HEADER + len)) break;
      const start = pos - bufPos + FRAME_HEADER;
      const body = buf.subarray(start, start + len);
      if (crc32(body) !== crc) break;
      const rec = decodeBody(body);
      if (!rec) break;
      onRecord(rec);
      records++;
      pos += FRAME_HEADER + len;
    }
    // Whatever is left after the last good frame is the torn tail.
    const size = fstatSync(fd).size;
    return { goodBytes: pos, badBytes: size - pos, records };
  } finally {
    closeSync(fd);
  }
}
