import { closeSync, constants, fsyncSync, openSync } from 'node:fs';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';

// The files behind a SegmentLog: naming, directory fsync, and the pool of read descriptors.

export interface Segment {
  /** A lower bound of the seqs in the file (its name); records may start later. */
  base: number;
  file: string;
  /** Durable bytes: everything before this offset is written and synced. */
  size: number;
  /** The seq after the last record in the file. */
  end: number;
  /** Open only for the active segment and the few most recently read ones (see READ_HANDLES). */
  fh?: FileHandle;
  /** Reads in progress on fh: it is not closed under them. */
  users?: number;
  /**
   * Set when open() cut a torn tail off this file: the size it was cut to. An offset past it in a
   * position saved before (the checkpoint) pointed into bytes that are gone; new records are
   * written from here.
   */
  cut?: number;
}

/**
 * Sealed segments keep a file descriptor only while among this many most recently read: with small
 * segments and a large bound a lane can have thousands of files, and one descriptor each would run
 * into the process's open-file limit.
 */
export const READ_HANDLES = 8;

export const SEGMENT_NAME = /^([0-9a-f]{16})\.seg$/;

export function segmentFile(dir: string, base: number): string {
  return join(dir, `${base.toString(16).padStart(16, '0')}.seg`);
}

/**
 * How segment files are opened: read-write, and with O_DSYNC when the log syncs and the platform
 * has it, so that a commit is one pwrite that returns once the data is on disk (what a write plus
 * fdatasync gives) in one thread-pool call: no wait between the two for the event loop, which at
 * high rates is busy sending the previous commit's acknowledgements. `dsync` false: plain writes
 * (the caller syncs, or the tests that skip syncing).
 */
export function segmentFlags(dsync: boolean): number {
  return constants.O_RDWR | (dsync ? DSYNC : 0);
}

/** O_DSYNC where the platform has it (Linux, macOS); 0 elsewhere: the log then calls datasync() itself. */
export const DSYNC: number = constants.O_DSYNC ?? 0;

/** A new directory entry must be durable too, or a power cut can lose the whole new file. */
export function syncDir(dir: string): void {
  const dfd = openSync(dir, 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}

/**
 * Descriptors of sealed segments, least recently used first, at most READ_HANDLES of them beyond
 * the active one. Opened read-write: the active segment may be opened by a reader first and then
 * written through the same descriptor.
 */
export class HandlePool {
  private lru: Segment[] = [];

  constructor(
    private readonly isLive: (s: Segment) => boolean,
    private readonly isActive: (s: Segment) => boolean,
    /** segmentFlags(): a descriptor opened here may become the one the active segment is written through. */
    private readonly flags: number,
  ) {}

  /**
   * The segment's descriptor, opened on demand, marked most recently used and counted as in use
   * (the caller calls `release` when done) before anything else can run and close it.
   */
  async acquire(seg: Segment): Promise<FileHandle> {
    while (!seg.fh) {
      if (!this.isLive(seg)) throw Object.assign(new Error(`segment ${seg.file} was removed`), { code: 'ENOENT' });
      const fh = await open(seg.file, this.flags);
      // Opened by a concurrent reader meanwhile (or removed): use theirs (or fail above).
      if (seg.fh || !this.isLive(seg)) void fh.close().catch(() => {});
      else seg.fh = fh;
    }
    seg.users = (seg.users ?? 0) + 1;
    this.touch(seg);
    return seg.fh;
  }

  release(seg: Segment): void {
    seg.users = (seg.users ?? 1) - 1;
    this.trim();
  }

  touch(seg: Segment): void {
    const i = this.lru.indexOf(seg);
    if (i >= 0) this.lru.splice(i, 1);
    if (!this.isActive(seg) && seg.fh) this.lru.push(seg);
    this.trim();
  }

  /** Closes the least recently used descriptors beyond READ_HANDLES (never one in use). */
  private trim(): void {
    for (let i = 0; this.lru.length > READ_HANDLES && i < this.lru.length; ) {
      const s = this.lru[i]!;
      if (s.users || this.isActive(s)) {
        i++;
        continue;
      }
      this.lru.splice(i, 1);
      const fh = s.fh;
      s.fh = undefined;
      void fh?.close().catch(() => {});
    }
  }

  /** Closes the segment's descriptor and deletes its file. */
  async remove(s: Segment): Promise<void> {
    const i = this.lru.indexOf(s);
    if (i >= 0) this.lru.splice(i, 1);
    const fh = s.fh;
    s.fh = undefined;
    await fh?.close().catch(() => {});
    await unlink(s.file).catch(() => {});
  }
}
