import { closeSync, fsyncSync, openSync, readdirSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { syncDir } from '../bridge/segment-files.ts';
import { encodeFrame, type FrameRecord } from './durable-frames.ts';

// The files of the broker's session store in <data_dir>/broker:
//   sessions.snap      the whole state as frames (durable-frames.ts), the first one saying which
//                      journals it covers; written to a temp file, fsync'd, renamed, dir fsync'd
//   journal.<G>        changes since, appended in batches and fsync'd (group commit: whoever needs
//                      a record on disk waits for the next fsync, which takes every record
//                      appended meanwhile)
// Every journal record carries a sequence number (`q`, never reused: it goes on from the highest
// one found at start) and the snapshot's first frame says the last one it holds. Recovery reads
// the snapshot, then replays, in order, the journal records after it and only those: a record
// written to the next generation's file while the snapshot was taken, or a journal left by a
// crash at any step of a rotation, can never be applied twice or out of its generation.

export const SNAPSHOT = 'sessions.snap';
const JOURNAL = 'journal.';

export function journalFile(dir: string, gen: number): string {
  return join(dir, JOURNAL + gen);
}

export function journalGenerations(dir: string): number[] {
  return readdirSync(dir)
    .filter((n) => n.startsWith(JOURNAL) && /^\d+$/.test(n.slice(JOURNAL.length)))
    .map((n) => Number(n.slice(JOURNAL.length)))
    .sort((a, b) => a - b);
}

export function dropJournalsBelow(dir: string, gen: number): void {
  for (const g of journalGenerations(dir)) {
    if (g >= gen) continue;
    try {
      unlinkSync(journalFile(dir, g));
    } catch {
      // Harmless: recovery skips journals the snapshot covers.
    }
  }
}

/** At start, before any listener opens: nothing else runs, so synchronous I/O is simplest. */
export function writeSnapshotSync(dir: string, records: Iterable<FrameRecord>): number {
  const tmp = join(dir, `${SNAPSHOT}.tmp`);
  const fd = openSync(tmp, 'w');
  let bytes = 0;
  try {
    for (const r of records) bytes += writeSync(fd, encodeFrame(r));
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    unlinkSync(tmp);
    throw err;
  }
  closeSync(fd);
  renameSync(tmp, join(dir, SNAPSHOT));
  syncDir(dir);
  return bytes;
}

/** Frames encoded per write while a snapshot streams out: the whole state is never one Buffer. */
const SNAPSHOT_CHUNK = 256;

/**
 * Compaction and recovery from a full disk, while serving: asynchronous I/O. `records` is
 * encoded as it is written, a chunk at a time (the caller captured the state it walks).
 */
export async function writeSnapshot(dir: string, records: Iterable<FrameRecord>, step?: (at: string) => void | Promise<void>): Promise<number> {
  const tmp = join(dir, `${SNAPSHOT}.tmp`);
  let bytes = 0;
  const fh = await open(tmp, 'w');
  try {
    let chunk: Buffer[] = [];
    const flush = async () => {
      const { bytesWritten } = await fh.writev(chunk);
      bytes += bytesWritten;
      chunk = [];
    };
    for (const r of records) {
      chunk.push(encodeFrame(r));
      if (chunk.length >= SNAPSHOT_CHUNK) await flush();
    }
    if (chunk.length) await flush();
    await step?.('snapshot-written');
    await fh.sync();
    await fh.close();
  } catch (err) {
    await fh.close().catch(() => {});
    try {
      unlinkSync(tmp);
    } catch {
      // already gone
    }
    throw err;
  }
  renameSync(tmp, join(dir, SNAPSHOT));
  syncDir(dir);
  await step?.('snapshot-renamed');
  return bytes;
}

interface Waiter {
  seq: number;
  resolve(): void;
  reject(err: Error): void;
}

/**
 * Pending records beyond this many bytes are written at once instead of waiting for the lazy
 * timer: a burst of changes nobody waits for (a flood of queued messages) does not pile up.
 */
const FLUSH_BYTES = 256 * 1024;

function recordBytes(r: FrameRecord): number {
  return 64 + (r.payload?.length ?? 0);
}

/**
 * The append journal with group commit. `append` queues a record (encoded only when written, so
 * a pending record shares its payload with the queued message instead of holding a copy) and
 * gives it the next sequence number; `commit` resolves once every record appended before it is
 * fsync'd. Records nobody waits for reach the disk within `lazyMs`, or as soon as FLUSH_BYTES
 * are pending. A failed write (disk full...) truncates the file back to its last good size,
 * rejects the waiters and reports through `onError`; the journal then takes nothing until `restart`.
 */
export class Journal {
  private pending: FrameRecord[] = [];
  private pendingBytes = 0;
  /** Sequence number of the last record appended; it goes on across files and restarts. */
  seq: number;
  private durable: number;
  private waiters: Waiter[] = [];
  private writing = false;
  private timer?: NodeJS.Timeout;
  private fh?: FileHandle;
  private fileGen = -1;
  /** Durable bytes of the current journal file. */
  size = 0;
  failed?: Error;
  private held = false;
  private closed = false;

  constructor(
    private readonly dir: string,
    public gen: number,
    private readonly hooks: { onError(err: Error): void; afterWrite(): void },
    private readonly lazyMs = 2000,
    startSeq = 0,
  ) {
    this.seq = startSeq;
    this.durable = startSeq;
  }

  append(rec: FrameRecord): void {
    if (this.failed || this.closed) return;
    rec.fields.q = ++this.seq;
    this.pending.push(rec);
    this.pendingBytes += recordBytes(rec);
    if (this.pendingBytes >= FLUSH_BYTES) this.kick();
    else if (!this.timer && !this.writing) {
      this.timer = setTimeout(() => this.kick(), this.lazyMs);
      this.timer.unref();
    }
  }

  /** Resolves when everything appended so far is on disk. */
  commit(): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    if (this.durable >= this.seq) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.waiters.push({ seq: this.seq, resolve, reject });
      this.kick();
    });
  }

  private kick(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.writing && !this.held) void this.loop();
  }

  private async loop(): Promise<void> {
    this.writing = true;
    while (this.pending.length && !this.failed) {
      const batch = this.pending;
      const end = this.seq;
      this.pending = [];
      this.pendingBytes = 0;
      try {
        if (this.fileGen !== this.gen) await this.openCurrent(this.gen);
        const { bytesWritten } = await this.fh!.writev(batch.map(encodeFrame));
        await this.fh!.datasync();
        this.size += bytesWritten;
      } catch (err) {
        await this.fh?.truncate(this.size).catch(() => {});
        this.fail(err as Error);
        break;
      }
      this.durable = Math.max(this.durable, end);
      this.settle();
      this.hooks.afterWrite();
    }
    this.writing = false;
  }

  private async openCurrent(gen: number): Promise<void> {
    await this.fh?.close().catch(() => {});
    this.fh = undefined;
    this.fh = await open(journalFile(this.dir, gen), 'a');
    this.fileGen = gen;
    this.size = (await this.fh.stat()).size;
    syncDir(this.dir);
  }

  private settle(): void {
    const keep: Waiter[] = [];
    for (const w of this.waiters) (w.seq <= this.durable ? w.resolve() : keep.push(w));
    this.waiters = keep;
  }

  private fail(err: Error): void {
    this.halt(err);
    this.hooks.onError(err);
  }

  /** Takes nothing more until `restart`; whoever waits is told `err`. */
  halt(err: Error): void {
    if (this.failed) return;
    this.failed = err;
    this.pending = [];
    this.pendingBytes = 0;
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w.reject(err);
  }

  /**
   * The state was just captured for a snapshot (holding every record up to `seq`): later records
   * go to the next generation's file. Records not yet written stay pending and go there too, with
   * their waiters: if the snapshot never lands (a crash), the old snapshot and both journals still
   * hold everything; if it does, recovery skips them by their sequence numbers.
   */
  rotate(): number {
    this.gen++;
    return this.gen;
  }

  /**
   * A failed journal about to be replaced by a snapshot covering journals below `gen`: takes
   * records again from now on, but holds them in memory until `release` (the snapshot landed);
   * if it does not land, `halt` drops them with the rest.
   */
  restart(gen: number): void {
    this.failed = undefined;
    this.pending = [];
    this.pendingBytes = 0;
    this.durable = this.seq;
    this.gen = gen;
    this.held = true;
  }

  release(): void {
    this.held = false;
    if (this.pending.length) this.kick();
  }

  /** Writes what is pending and closes the file (clean stop). */
  async close(): Promise<void> {
    if (this.pending.length && !this.failed) await this.commit().catch(() => {});
    // Stopped: a late change (a client closing after the broker) must not reopen the file under
    // the next start's feet; the next start replays what was written.
    this.closed = true;
    while (this.writing) await new Promise((r) => setImmediate(r));
    clearTimeout(this.timer);
    await this.fh?.close().catch(() => {});
    this.fh = undefined;
    this.fileGen = -1;
  }
}
