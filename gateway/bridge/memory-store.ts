import { EventEmitter } from 'node:events';
import { PublishRejected } from '../core/message.ts';
import { frameSize, topicBucket, type LogRecord, type NewRecord } from './record.ts';
import { BUCKETS, type Damage, type Dropped, type LaneStore, type OpenReport, type Pos, type ReadRecord } from './store.ts';

interface Chunk {
  base: number;
  records: LogRecord[];
  bytes: number;
}

/**
 * A lane kept in RAM only (`queue.storage: memory`): the same bound, drop policy, ordering and
 * consumers as the segment log, but lost on restart. It exists for devices that must not keep
 * writing flash (only meta.json is written, once) and as the benchmark's "log disabled" baseline.
 * Records are grouped in chunks so drops and releases work a chunk at a time like segments do.
 */
export class MemoryStore extends EventEmitter<{ durable: []; damaged: [Damage] }> implements LaneStore {
  readonly lastSeqOfBucket = new Float64Array(BUCKETS).fill(-1);
  private chunks: Chunk[] = [{ base: 0, records: [], bytes: 0 }];
  private next = 0;
  private total = 0;
  private scheduled = false;
  private closed = false;
  readonly bytesWritten = 0;
  readonly syncs = 0;

  constructor(readonly name: string, private readonly chunkBytes: number) {
    super();
  }

  get nextSeq(): number {
    return this.next;
  }

  get bytes(): number {
    return this.total;
  }

  advanceTo(seq: number): void {
    if (seq <= this.next) return;
    const last = this.chunks[this.chunks.length - 1]!;
    if (last.records.length === 0) last.base = seq;
    else this.chunks.push({ base: seq, records: [], bytes: 0 });
    this.next = seq;
  }

  async open(): Promise<OpenReport> {
    return { segments: 1, messages: 0, bytes: 0, damage: [] };
  }

  append(recs: NewRecord[]): Promise<void> {
    if (this.closed) return Promise.reject(new PublishRejected('unavailable', `bridge queue lane ${this.name} is closed`));
    const ts = Date.now();
    for (const r of recs) {
      let c = this.chunks[this.chunks.length - 1];
      if (c!.bytes >= this.chunkBytes) this.chunks.push((c = { base: this.next, records: [], bytes: 0 }));
      const size = frameSize(r.topic, r.payload);
      const seq = this.next++;
      c!.records.push({ ...r, seq, ts });
      c!.bytes += size;
      this.total += size;
      this.lastSeqOfBucket[topicBucket(r.topic, BUCKETS)] = seq;
    }
    // Readers are woken once per tick, like one group commit, instead of once per record.
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.emit('durable');
      });
    }
    return Promise.resolve();
  }

  async read(from: Pos, maxBytes: number): Promise<{ records: ReadRecord[]; end: Pos }> {
    const records: ReadRecord[] = [];
    let seq = Math.max(from.seq, this.chunks[0]!.base);
    let bytes = 0;
    let ci = this.chunks.findIndex((c) => seq < c.base + c.records.length);
    if (ci < 0) return { records, end: this.endPos() };
    for (; ci < this.chunks.length && bytes < maxBytes; ci++) {
      const c = this.chunks[ci];
      for (let i = Math.max(0, seq - c!.base); i < c!.records.length && bytes < maxBytes; i++) {
        const r = c!.records[i];
        records.push({ ...r!, at: { seq: r!.seq, seg: 0, off: 0 }, next: { seq: r!.seq + 1, seg: 0, off: 0 } });
        bytes += frameSize(r!.topic, r!.payload);
        seq = r!.seq + 1;
      }
    }
    return { records, end: { seq, seg: 0, off: 0 } };
  }

  /** Nothing survives a restart here, and reads go by seq alone. */
  fromCheckpoint(pos: Pos): Pos {
    return pos;
  }

  headPos(): Pos {
    return { seq: this.chunks[0]!.base, seg: 0, off: 0 };
  }

  endPos(): Pos {
    return { seq: this.next, seg: 0, off: 0 };
  }

  async release(seq: number): Promise<void> {
    this.releaseNow(seq);
  }

  releaseNow(seq: number): number {
    let freed = 0;
    while (this.chunks.length > 1 && this.chunks[1]!.base <= seq) {
      const c = this.chunks.shift()!;
      this.total -= c.bytes;
      freed += c.bytes;
    }
    // Like the segment log: a fully acknowledged last chunk goes too, an empty one takes its place.
    const last = this.chunks[0]!;
    if (this.chunks.length === 1 && last.records.length && this.next <= seq) {
      this.chunks = [{ base: this.next, records: [], bytes: 0 }];
      this.total -= last.bytes;
      freed += last.bytes;
    }
    return freed;
  }

  dropOldest(): Dropped | undefined {
    if (this.chunks.length < 2) return undefined;
    const c = this.chunks.shift()!;
    this.total -= c.bytes;
    return { firstSeq: c.base, endSeq: this.chunks[0]!.base, bytes: c.bytes };
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
