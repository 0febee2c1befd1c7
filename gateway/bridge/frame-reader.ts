import type { FileHandle } from 'node:fs/promises';
import { decodeAt, findMarker, HEADER, type LogRecord } from './record.ts';

const CHUNK = 256 * 1024;

export type ReadItem =
  | { kind: 'record'; rec: LogRecord; at: number; size: number }
  /** Bytes [from, to) held no valid frame; `lost` messages were in it when the seq numbers tell. */
  | { kind: 'damaged'; from: number; to: number; lost: number | undefined; why: string };

/**
 * Walks the frames of one segment file from an offset up to `limit` bytes (the durable size).
 * After a damaged region it resynchronises on the next frame marker whose frame checks out and
 * whose seq follows the last good one, so one bad sector costs the messages in it, not the rest
 * of the file. Every refill allocates a fresh buffer: payloads handed out are views into it.
 */
export class FrameReader {
  private buf = Buffer.alloc(0);
  private bufStart = 0;
  private pos: number;

  constructor(private readonly fh: FileHandle, from: number, private readonly limit: number, private lastSeq = -1, private readonly chunk = CHUNK) {
    this.pos = from;
  }

  get offset(): number {
    return this.pos;
  }

  private get bufEnd(): number {
    return this.bufStart + this.buf.length;
  }

  /** Makes the buffer start at `from` and hold at least `min` bytes (fewer only at the limit). */
  private async fill(from: number, min: number): Promise<void> {
    const len = Math.min(Math.max(min, this.chunk), this.limit - from);
    const buf = Buffer.allocUnsafe(Math.max(len, 0));
    let got = 0;
    while (got < len) {
      const { bytesRead } = await this.fh.read(buf, got, len - got, from + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    this.buf = got === len ? buf : buf.subarray(0, got);
    this.bufStart = from;
  }

  private async ensure(from: number, min: number): Promise<boolean> {
    if (from >= this.bufStart && from + min <= this.bufEnd) return true;
    if (from + min > this.limit) {
      // Not that many bytes exist: load what there is so the caller can see the torn remainder.
      if (from >= this.limit) return false;
      await this.fill(from, this.limit - from);
      return false;
    }
    await this.fill(from, min);
    return this.bufEnd >= from + min;
  }

  /** The next record or damaged region, or undefined at the end. */
  async next(): Promise<ReadItem | undefined> {
    if (this.pos >= this.limit) return undefined;
    await this.ensure(this.pos, HEADER);
    let d = decodeAt(this.buf.subarray(0, Math.min(this.buf.length, this.limit - this.bufStart)), this.pos - this.bufStart);
    if (d.kind === 'partial' && this.pos + d.need <= this.limit) {
      await this.ensure(this.pos, d.need);
      d = decodeAt(this.buf, this.pos - this.bufStart);
    }
    if (d.kind === 'record') {
      const at = this.pos;
      this.pos += d.size;
      this.lastSeq = d.rec.seq;
      return { kind: 'record', rec: d.rec, at, size: d.size };
    }
    const why = d.kind === 'partial' ? 'frame cut short' : d.why;
    return this.resync(why);
  }

  private async resync(why: string): Promise<ReadItem> {
    const from = this.pos;
    let p = from + 1;
    while (p < this.limit - 1) {
      await this.ensure(p, Math.min(this.chunk, this.limit - p));
      const i = findMarker(this.buf, p - this.bufStart);
      if (i < 0) {
        p = this.bufEnd - 1;
        if (this.bufEnd >= this.limit) break;
        continue;
      }
      const cand = this.bufStart + i;
      await this.ensure(cand, HEADER);
      let d = decodeAt(this.buf, cand - this.bufStart);
      if (d.kind === 'partial' && cand + d.need <= this.limit) {
        await this.ensure(cand, d.need);
        d = decodeAt(this.buf, cand - this.bufStart);
      }
      if (d.kind === 'record' && d.rec.seq > this.lastSeq) {
        this.pos = cand;
        return { kind: 'damaged', from, to: cand, lost: this.lastSeq >= 0 ? d.rec.seq - this.lastSeq - 1 : undefined, why };
      }
      p = cand + 1;
    }
    this.pos = this.limit;
    return { kind: 'damaged', from, to: this.limit, lost: undefined, why };
  }
}
