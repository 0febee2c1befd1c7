import { closeSync, fsyncSync, openSync, readdirSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { syncDir } from '../bridge/segment-files.ts';

// The files of the broker's session store in <data_dir>/broker:
//   sessions.snap      the whole state as frames (durable-frames.ts), the first one saying which
//                      journals it covers; written to a temp file, fsync'd, renamed, dir fsync'd
//   journal.<G>        changes since, appended in batches and fsync'd (group commit: whoever needs
//                      a record on disk waits for the next fsync, which takes every record
//                      appended meanwhile)
// Recovery reads the snapshot, then replays every journal it does not cover, in order.

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
export function writeSnapshotSync(dir: string, frames: Buffer[]): number {
  const tmp = join(dir, `${SNAPSHOT}.tmp`);
  const fd = openSync(tmp, 'w');
  let bytes = 0;
  try {
    for (const f of frames) bytes += writeSync(fd, f);
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

/** Compaction and recovery from a full disk, while serving: asynchronous I/O. */
export async function writeSnapshot(dir: string, frames: Buffer[]): Promise<number> {
  const tmp = join(dir, `${SNAPSHOT}.tmp`);
  let bytes = 0;
  const fh = await open(tmp, 'w');
  try {
    for (let i = 0; i < frames.length; i += 256) {
      const { bytesWritten } = await fh.writev(frames.slice(i, i + 256));
      bytes += bytesWritten;
    }
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
  return bytes;
}

interface Waiter {
  seq: number;
  resolve(): void;
  reject(err: Error): void;
}

/**
 * The append journal with group commit. `append` queues a frame; `commit` resolves once every
 * frame appended before it is fsync'd. Frames nobody waits for reach the disk within `lazyMs`.
 * A failed write (disk full...) truncates the file back to its last good size, rejects the
 * waiters and reports through `onError`; the journal then takes nothing until `restart`.
 */
export class Journal {
  private pending: Buffer[] = [];
  private appended = 0;
  private durable = 0;
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
  ) {}

  append(frame: Buffer): void {
    if (this.failed || this.closed) return;
    this.pending.push(frame);
    this.appended++;
    if (!this.timer && !this.writing) {
      this.timer = setTimeout(() => this.kick(), this.lazyMs);
      this.timer.unref();
    }
  }

  /** Resolves when everything appended so far is on disk. */
  commit(): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    if (this.durable >= this.appended) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.waiters.push({ seq: this.appended, resolve, reject });
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
      const end = this.appended;
      this.pending = [];
      try {
        if (this.fileGen !== this.gen) await this.openCurrent();
        const { bytesWritten } = await this.fh!.writev(batch);
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

  private async openCurrent(): Promise<void> {
    await this.fh?.close().catch(() => {});
    this.fh = undefined;
    this.fh = await open(journalFile(this.dir, this.gen), 'a');
    this.fileGen = this.gen;
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
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w.reject(err);
  }

  /**
   * The state was just captured for a snapshot: frames not yet written are in it, so they are
   * dropped, and their waiters handed back to wait for the snapshot. Later frames go to the next
   * generation's file.
   */
  rotate(): { gen: number; waiters: Waiter[] } {
    // Waiters up to the batch being written (if any) stay: that batch still lands in the old file.
    const inFlightEnd = this.appended - this.pending.length;
    const moved = this.waiters.filter((w) => w.seq > inFlightEnd);
    this.waiters = this.waiters.filter((w) => w.seq <= inFlightEnd);
    this.pending = [];
    this.durable = this.appended;
    this.gen++;
    return { gen: this.gen, waiters: moved };
  }

  /**
   * A failed journal about to be replaced by a snapshot covering journals below `gen`: takes
   * frames again from now on, but holds them in memory until `release` (the snapshot landed);
   * if it does not land, `halt` drops them with the rest.
   */
  restart(gen: number): void {
    this.failed = undefined;
    this.pending = [];
    this.durable = this.appended;
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
