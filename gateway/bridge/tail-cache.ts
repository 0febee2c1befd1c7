import type { Pos, ReadRecord } from './store.ts';

/**
 * The newest committed records of a lane, decoded, up to a byte budget. A consumer that keeps up
 * with live traffic reads what was just committed; serving that from here saves a file read, a
 * CRC check and a decode per message. It is only a shortcut: everything in it is also on disk,
 * and a miss falls back to the files. Holds contiguous seqs only (a gap clears it).
 */
export class TailCache {
  private recs: ReadRecord[] = [];
  private sizes: number[] = [];
  private first = 0;
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  add(rec: ReadRecord, size: number): void {
    const last = this.recs.length > this.first ? this.recs[this.recs.length - 1] : undefined;
    if (last && rec.seq !== last.seq + 1) this.clear();
    this.recs.push(rec);
    this.sizes.push(size);
    this.bytes += size;
    while (this.bytes > this.maxBytes && this.first < this.recs.length) this.bytes -= this.sizes[this.first++]!;
    if (this.first > 4096 && this.first * 2 > this.recs.length) {
      this.recs = this.recs.slice(this.first);
      this.sizes = this.sizes.slice(this.first);
      this.first = 0;
    }
  }

  clear(): void {
    this.recs = [];
    this.sizes = [];
    this.first = 0;
    this.bytes = 0;
  }

  /** Records from `seq` on (about `maxBytes` of them), or undefined when `seq` is not held. */
  get(seq: number, maxBytes: number): { records: ReadRecord[]; end: Pos } | undefined {
    if (this.recs.length <= this.first) return undefined;
    const i = this.first + (seq - this.recs[this.first]!.seq);
    if (i < this.first || i >= this.recs.length) return undefined;
    let n = 0;
    let j = i;
    while (j < this.recs.length && n < maxBytes) n += this.sizes[j++]!;
    const records = this.recs.slice(i, j);
    return { records, end: records[records.length - 1]!.next };
  }
}
