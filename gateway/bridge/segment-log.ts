import { EventEmitter } from 'node:events';
import { closeSync, constants, openSync, unlinkSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { PublishRejected } from '../core/message.ts';
import { FrameReader } from './frame-reader.ts';
import { GroupCommit } from './group-commit.ts';
import { encodeInto, frameSize, topicBucket, type LogRecord, type NewRecord } from './record.ts';
import { DSYNC, HandlePool, segmentFile, segmentFlags, syncDir, type Segment } from './segment-files.ts';
import { scanSegments } from './segment-scan.ts';
import { TailCache } from './tail-cache.ts';
import { BUCKETS, type Damage, type Dropped, type LaneStore, type OpenReport, type Pos, type ReadRecord } from './store.ts';

export { READ_HANDLES } from './segment-files.ts';

export interface SegmentLogOptions {
  dir: string;
  name: string;
  segmentBytes: number;
  /**
   * Group commit: while appends keep arriving during commits, the next commit starts at most this
   * often (ms from the previous commit's start), so one fsync covers everything that arrived in
   * the meantime. An append to an idle lane is committed at once, never held back by it.
   */
  syncInterval: number;
  /** false skips fsync (tests of the write path only; never the default). */
  fsync?: boolean;
  /** Told how long each commit's durable write took (O_DSYNC pwrite, or write + fdatasync), in seconds (the bridge's fsync histogram). */
  onSync?: (seconds: number) => void;
}

/**
 * One lane of the bridge queue as append-only segment files of CRC-framed records. Appends are
 * batched into one synchronous write (O_DSYNC, else write + fdatasync; group commit, timed by
 * `GroupCommit`): a burst of thousands of publishes costs a few flash writes; a lone message costs one fsync and no wait. Nothing
 * queued is kept in memory: readers fetch from the files (the page cache makes a just-written tail
 * cheap to read back).
 */
export class SegmentLog extends EventEmitter<{ durable: []; damaged: [Damage] }> implements LaneStore {
  readonly lastSeqOfBucket = new Float64Array(BUCKETS).fill(-1);
  private segments: Segment[] = [];
  private next = 0;
  private pending: { buf: Buffer; rec: LogRecord }[] = [];
  // A few commits' worth at full rate (about 1,800 100-byte messages): enough for a consumer that keeps up.
  private readonly tail = new TailCache(256 * 1024);
  private pendingBytes = 0;
  /** One per append(): settled once the records before `upTo` (an index into `pending`) are durable. */
  private waiters: { resolve: () => void; reject: (e: Error) => void; upTo: number }[] = [];
  private readonly commits: GroupCommit;
  private closed = false;
  /** Damaged regions already reported, per file (offsets): reads over them stay quiet. */
  private readonly reported = new Map<string, Set<number>>();
  /** Writes are synchronous (O_DSYNC): a commit is one pwrite, no separate fdatasync. */
  private readonly dsync: boolean;
  private readonly flags: number;
  private readonly handles: HandlePool;
  bytesWritten = 0;
  syncs = 0;

  constructor(private readonly opts: SegmentLogOptions) {
    super();
    this.commits = new GroupCommit(opts.syncInterval, () => this.pending.length > 0, () => this.flush());
    this.dsync = opts.fsync !== false && DSYNC !== 0;
    this.flags = segmentFlags(this.dsync);
    this.handles = new HandlePool((s) => this.segments.includes(s), (s) => s === this.active, this.flags);
  }

  get name(): string {
    return this.opts.name;
  }

  get nextSeq(): number {
    return this.next;
  }

  get bytes(): number {
    let n = this.pendingBytes;
    for (const s of this.segments) n += s.size;
    return n;
  }

  private get active(): Segment {
    return this.segments[this.segments.length - 1]!;
  }

  async open(): Promise<OpenReport> {
    const { segments, report } = await scanSegments(this.opts.dir, this.lastSeqOfBucket, (file, offset) => this.firstReport(file, offset), this.flags);
    this.segments = segments;
    this.next = segments.length ? this.active.end : 0;
    // Whatever a torn tail held may have gone up already: its seqs are never given out again.
    for (const d of report.damage) if (d.afterSeq !== undefined && d.maxLost !== undefined) this.advanceTo(d.afterSeq + 1 + d.maxLost);
    if (!this.segments.length) await this.createSegment(this.next);
    report.segments = this.segments.length;
    return report;
  }

  advanceTo(seq: number): void {
    if (seq <= this.next) return;
    this.next = seq;
    // Idle: the active segment's end is the next seq at once. While records are pending or being
    // committed, the end must not pass them (a reader would skip them): the commit moves it.
    if (!this.pending.length && !this.commits.running && this.segments.length) this.advanceEnd();
  }

  /** With nothing pending, everything below `next` is durable or spent: the end moves there. */
  private advanceEnd(): void {
    if (!this.pending.length) this.active.end = Math.max(this.active.end, this.next);
  }

  private async createSegment(base: number): Promise<void> {
    const file = segmentFile(this.opts.dir, base);
    const fh = await open(file, this.flags | constants.O_CREAT | constants.O_TRUNC);
    try {
      this.syncDir();
    } catch (err) {
      await fh.close().catch(() => {});
      try {
        unlinkSync(file);
      } catch {
        /* already gone */
      }
      throw err;
    }
    this.segments.push({ base, file, size: 0, end: base, fh });
  }

  private syncDir(): void {
    syncDir(this.opts.dir);
  }

  /**
   * Starts a new, empty active segment synchronously (its descriptor opens on the next write), so
   * a fully acknowledged active segment can be deleted. On a full disk that is the only way the
   * log gets its space back: an empty file costs no data blocks. False when even that fails.
   */
  private rollSync(): boolean {
    const base = this.next;
    const file = segmentFile(this.opts.dir, base);
    try {
      closeSync(openSync(file, 'wx'));
      this.syncDir();
    } catch {
      return false;
    }
    const sealed = this.active;
    this.segments.push({ base, file, size: 0, end: base });
    this.handles.touch(sealed);
    return true;
  }

  append(recs: NewRecord[]): Promise<void> {
    if (this.closed) return Promise.reject(new PublishRejected('unavailable', `bridge queue lane ${this.name} is closed`));
    const ts = Date.now();
    for (const r of recs) {
      // Spelled out, not spread: one object shape for every record on the hot path.
      const rec: LogRecord = { topic: r.topic, payload: r.payload, qos: r.qos, retain: r.retain, mask: r.mask, seq: this.next++, ts };
      const buf = Buffer.allocUnsafe(frameSize(r.topic, r.payload));
      const n = encodeInto(rec, buf, 0);
      this.pending.push({ buf: n === buf.length ? buf : buf.subarray(0, n), rec });
      this.pendingBytes += n;
      this.lastSeqOfBucket[topicBucket(r.topic, BUCKETS)] = rec.seq;
    }
    const upTo = this.pending.length;
    const p = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject, upTo }));
    this.commits.added();
    return p;
  }

  /** One group commit: everything appended since the last one (started by `commits`). */
  private async flush(): Promise<void> {
    const items = this.pending;
    const waiters = this.waiters;
    this.pending = [];
    this.waiters = [];
    this.pendingBytes = 0;
    const active = this.active;
    if (!active.fh) await this.handles.acquire(active).then(() => this.handles.release(active), () => {});
    // Waiters whose records are all written and synced are resolved part by part, so a failure in
    // a later part rejects only the appends that did not reach the disk (a rejected append is
    // published again by its source: one already on disk would then go up twice, with two ids).
    let settled = 0;
    let durable = false;
    const settleUpTo = (n: number) => {
      while (settled < waiters.length && waiters[settled]!.upTo <= n) waiters[settled++]!.resolve();
    };
    try {
      for (let i = 0; i < items.length; ) {
        i = await this.writePart(items, i);
        durable = true;
        settleUpTo(i);
      }
      // Before the last waiters settle: what their publishers send next finds the lane idle.
      this.commits.settling();
      this.advanceEnd();
      settleUpTo(items.length);
      this.wake();
    } catch (err) {
      this.commits.settling();
      const e = err as NodeJS.ErrnoException;
      const seg = this.active;
      // Cut whatever part did land so the next commit starts on a frame boundary.
      this.tail.clear();
      await seg.fh?.truncate(seg.size).catch(() => {});
      // The refused records' seqs are spent (never reused); the segment's end passes them so the
      // lane's depth and every reader skip the gap instead of waiting for them.
      const last = items[items.length - 1];
      if (last) seg.end = Math.max(seg.end, last.rec.seq + 1);
      this.advanceEnd();
      const rej = new PublishRejected('unavailable', `bridge queue write to ${seg.file} failed (${e.code ?? e.message}): is the disk full or read-only?`);
      for (const w of waiters.slice(settled)) w.reject(rej);
      // Readers learn that the end moved (past a gap, at least), so their positions move with it.
      if (durable || last) this.wake();
    }
  }

  /**
   * Tells readers (the consumers) that records are durable, once the appends just settled have run
   * their continuations: the publishers' acknowledgements (the PUBACKs) go out first and the
   * upstream sends of the same records right after, in the same turn of the loop. The other way
   * round, a device waiting for its PUBACK also waited for the bridge's write to the cloud.
   */
  private wake(): void {
    setImmediate(() => this.emit('durable'));
  }

  /**
   * Writes and syncs items[i..j), as many as fit in the active segment (at least one), rolling to
   * a new segment first when it is full; returns j. A batch larger than the room left is split at
   * record boundaries, so segments (the unit of drops and deletion) stay near their size whatever
   * the burst.
   */
  private async writePart(items: { buf: Buffer; rec: LogRecord }[], i: number): Promise<number> {
    let seg = this.active;
    if (seg.size >= this.opts.segmentBytes) {
      const sealed = seg;
      await this.createSegment(seg.end);
      seg = this.active;
      this.handles.touch(sealed);
    }
    const room = this.opts.segmentBytes - seg.size;
    let j = i;
    let bytes = 0;
    while (j < items.length && (j === i || bytes + items[j]!.buf.length <= room)) bytes += items[j++]!.buf.length;
    const data = j - i === 1 ? items[i]!.buf : Buffer.concat(items.slice(i, j).map((it) => it.buf), bytes);
    const t0 = performance.now();
    let done = 0;
    while (done < data.length) done += (await seg.fh!.write(data, done, data.length - done, seg.size + done)).bytesWritten;
    if (!this.dsync && this.opts.fsync !== false) await seg.fh!.datasync();
    if (this.opts.fsync !== false) this.opts.onSync?.((performance.now() - t0) / 1000);
    for (let k = i, off = seg.size; k < j; k++) {
      const { buf, rec } = items[k]!;
      // The payload as a view of our own frame, not the publisher's buffer: that one is often a
      // slice of a 64 KB socket read, which the cache would otherwise keep alive.
      const payload = buf.subarray(buf.length - rec.payload.length);
      const at = { seq: rec.seq, seg: seg.base, off };
      const next = { seq: rec.seq + 1, seg: seg.base, off: off + buf.length };
      this.tail.add({ topic: rec.topic, payload, qos: rec.qos, retain: rec.retain, mask: rec.mask, seq: rec.seq, ts: rec.ts, at, next }, buf.length);
      off += buf.length;
    }
    seg.size += bytes;
    seg.end = items[j - 1]!.rec.seq + 1;
    this.bytesWritten += bytes;
    this.syncs++;
    return j;
  }

  fromCheckpoint(pos: Pos): Pos {
    const seg = this.segments.find((s) => s.base === pos.seg);
    return seg?.cut !== undefined && pos.off > seg.cut ? { seq: pos.seq, seg: pos.seg, off: seg.cut } : pos;
  }

  headPos(): Pos {
    const s = this.segments[0]!;
    return { seq: s.base, seg: s.base, off: 0 };
  }

  endPos(): Pos {
    const s = this.active;
    return { seq: s.end, seg: s.base, off: s.size };
  }

  private segmentFor(pos: Pos): { seg: Segment; off: number } {
    const head = this.segments[0]!;
    if (pos.seq < head.end && pos.seq <= head.base) return { seg: head, off: 0 };
    const seg = this.segments.find((s) => s.base === pos.seg);
    if (seg && pos.seq >= seg.base) return { seg, off: pos.off };
    // The hinted segment is gone (dropped): the oldest segment holding pos.seq, from its start.
    const holder = this.segments.find((s) => pos.seq < s.end) ?? this.active;
    return { seg: holder, off: 0 };
  }

  async read(from: Pos, maxBytes: number): Promise<{ records: ReadRecord[]; end: Pos }> {
    if (from.seq >= this.segments[0]!.base) {
      const hit = this.tail.get(from.seq, maxBytes);
      if (hit) return hit;
    }
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.readOnce(from, maxBytes);
      } catch (err) {
        // The segment was dropped (queue full) or released while being read: start again from
        // what is still there. Any other error is real.
        if (attempt < 3 && !this.segments.some((s) => s.base === from.seg)) continue;
        throw err;
      }
    }
  }

  private async readOnce(from: Pos, maxBytes: number): Promise<{ records: ReadRecord[]; end: Pos }> {
    let { seg, off } = this.segmentFor(from);
    const records: ReadRecord[] = [];
    let bytes = 0;
    for (;;) {
      // size and end change together in flush(); read both before any await.
      const limit = seg.size;
      const endSeq = seg.end;
      if (off < limit) {
        const fh = await this.handles.acquire(seg);
        try {
          const reader = new FrameReader(fh, off, limit, from.seq - 1, Math.min(maxBytes, 256 * 1024));
          for (let item = await reader.next(); item; item = await reader.next()) {
            if (item.kind === 'damaged') {
              if (this.firstReport(seg.file, item.from)) this.emit('damaged', { file: seg.file, offset: item.from, bytes: item.to - item.from, lost: item.lost, action: 'skipped', why: item.why });
              continue;
            }
            const next = { seq: item.rec.seq + 1, seg: seg.base, off: item.at + item.size };
            if (item.rec.seq < from.seq) continue;
            records.push({ ...item.rec, at: { seq: item.rec.seq, seg: seg.base, off: item.at }, next });
            bytes += item.size;
            if (bytes >= maxBytes) return { records, end: next };
          }
        } finally {
          this.handles.release(seg);
        }
        off = limit;
      }
      const i = this.segments.indexOf(seg);
      if (i < 0 || i === this.segments.length - 1) return { records, end: { seq: Math.max(from.seq, endSeq), seg: seg.base, off } };
      seg = this.segments[i + 1]!;
      off = 0;
    }
  }

  /**
   * Takes the whole segments ending at or before `seq` out of the log (the files go later). The
   * active segment goes too once everything in it is acknowledged and nothing is being written:
   * a new empty one takes its place (else one large segment could hold a full disk for good).
   */
  private takeReleased(seq: number): Segment[] {
    const out: Segment[] = [];
    while (this.segments.length > 1 && this.segments[0]!.end <= seq && this.segments[1]!.base <= seq) out.push(this.segments.shift()!);
    const a = this.active;
    if (this.segments.length === 1 && a.size > 0 && a.end <= seq && this.commits.idle && !this.pending.length && this.rollSync()) out.push(this.segments.shift()!);
    return out;
  }

  async release(seq: number): Promise<void> {
    for (const s of this.takeReleased(seq)) await this.remove(s);
  }

  releaseNow(seq: number): number {
    let freed = 0;
    for (const s of this.takeReleased(seq)) {
      freed += s.size;
      void this.remove(s);
    }
    return freed;
  }

  dropOldest(): Dropped | undefined {
    if (this.segments.length < 2) return undefined;
    const s = this.segments.shift()!;
    void this.remove(s);
    return { firstSeq: s.base, endSeq: this.segments[0]!.base, bytes: s.size };
  }

  /** True the first time a damaged region is seen. */
  private firstReport(file: string, offset: number): boolean {
    let seen = this.reported.get(file);
    if (!seen) this.reported.set(file, (seen = new Set()));
    if (seen.has(offset)) return false;
    seen.add(offset);
    return true;
  }

  private async remove(s: Segment): Promise<void> {
    this.reported.delete(s.file);
    await this.handles.remove(s);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.commits.drain();
    for (const s of this.segments) {
      await s.fh?.close().catch(() => {});
      s.fh = undefined;
    }
  }
}
