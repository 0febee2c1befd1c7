import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { crc32 } from 'node:zlib';

// The broker's session store on disk (journal and snapshot alike) is a sequence of frames:
//
//   len   u32  body length, big endian
//   crc   u32  CRC-32 of the body
//   body: kind u8 | jsonLen u32 | json (the record's fields) | payload (raw bytes, the rest)
//
// A crash or power cut can only tear the last write (everything before it was fsync'd whole); a
// frame that is cut short or fails its CRC elsewhere is a storage fault. Either way the reader
// resynchronises on the next offset where a whole frame checks out (its body starts a JSON object
// and its CRC matches), as the bridge's segment log does, so damage costs the records in it, not
// the rest of the file; a damaged region that runs to the end is the torn tail. (Frames carry no
// marker or sequence number, so a resync could in principle land on a frame-shaped payload right
// after the damage; the CRC makes that chance 2^-32 for anything not crafted to be one.)

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
  records: number;
  /** Damaged regions skipped, as [from, to) byte offsets; one ending at `size` is a torn tail. */
  damaged: { from: number; to: number }[];
  size: number;
}

/** A frame whose body could start a record: worth a CRC check while resynchronising. */
function plausible(buf: Buffer, at: number, len: number): boolean {
  return len >= 6 && len <= MAX_BODY && buf[at + FRAME_HEADER + 5] === 0x7b && buf.readUInt32BE(at + FRAME_HEADER + 1) <= len - 5;
}

/**
 * Reads the frames of `file` in order, calling `onRecord` for each; skips a damaged region to the
 * next frame that checks out. Reads in chunks, so a large file never sits in memory whole.
 */
export function readFrames(file: string, onRecord: (r: FrameRecord) => void, chunk = 1024 * 1024): ReadResult {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    let buf = Buffer.alloc(0);
    let bufPos = 0; // file offset of buf[0]
    /** Makes bytes [at, at + n) available in buf (false past the end of the file). */
    const ensure = (at: number, n: number): boolean => {
      if (at + n > size) return false;
      if (at >= bufPos && at + n <= bufPos + buf.length) return true;
      const keep = at >= bufPos && at <= bufPos + buf.length ? buf.subarray(at - bufPos) : Buffer.alloc(0);
      const more = Buffer.allocUnsafe(Math.max(chunk, n - keep.length));
      const got = readSync(fd, more, 0, more.length, at + keep.length);
      buf = Buffer.concat([keep, more.subarray(0, got)]);
      bufPos = at;
      return at + n <= bufPos + buf.length;
    };
    /** The frame at `at`, if a whole valid one is there. */
    const frameAt = (at: number, resyncing: boolean): { rec: FrameRecord; len: number } | undefined => {
      if (!ensure(at, FRAME_HEADER)) return undefined;
      const len = buf.readUInt32BE(at - bufPos);
      // While resynchronising, cheap checks first: most offsets fail them without reading further.
      if (resyncing && (!ensure(at, FRAME_HEADER + 6) || !plausible(buf, at - bufPos, len))) return undefined;
      if (len < 5 || len > MAX_BODY || !ensure(at, FRAME_HEADER + len)) return undefined;
      const body = buf.subarray(at - bufPos + FRAME_HEADER, at - bufPos + FRAME_HEADER + len);
      if (crc32(body) !== buf.readUInt32BE(at - bufPos + 4)) return undefined;
      const rec = decodeBody(body);
      return rec && { rec, len };
    };
    let pos = 0;
    let records = 0;
    const damaged: { from: number; to: number }[] = [];
    while (pos < size) {
      const f = frameAt(pos, false);
      if (f) {
        onRecord(f.rec);
        records++;
        pos += FRAME_HEADER + f.len;
        continue;
      }
      const from = pos;
      let at = pos + 1;
      while (at + FRAME_HEADER < size && !frameAt(at, true)) at++;
      pos = at + FRAME_HEADER < size ? at : size;
      damaged.push({ from, to: pos });
    }
    return { records, damaged, size };
  } finally {
    closeSync(fd);
  }
}
