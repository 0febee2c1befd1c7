import type { EventEmitter } from 'node:events';
import type { LogRecord, NewRecord } from './record.ts';

// What a bridge consumer needs from a queue lane, whether it lives in segment files (durable) or
// in memory (the `storage: memory` option and the benchmark's baseline). Both implementations run
// the one conformance suite in test/lane-store-suite.ts (lane-store.test.ts).

/**
 * A place in a lane. `seq` is the truth; `seg`/`off` locate it in the files and are only a hint
 * (a position inside a segment that has since been dropped restarts at the oldest record).
 */
export interface Pos {
  seq: number;
  seg: number;
  off: number;
}

export interface ReadRecord extends LogRecord {
  at: Pos;
  next: Pos;
}

export interface Damage {
  file: string;
  offset: number;
  bytes: number;
  /** Messages lost, when the seq numbers on both sides tell; undefined for a torn tail. */
  lost: number | undefined;
  action: 'truncated' | 'skipped';
  why: string;
  /** The seq of the last good record before the region (-1: none), when known. */
  afterSeq?: number;
  /** For a torn tail: at most this many records were in it (its bytes over the smallest frame). */
  maxLost?: number;
}

export interface OpenReport {
  segments: number;
  messages: number;
  bytes: number;
  damage: Damage[];
}

/** A whole segment removed to make room: seqs [firstSeq, endSeq), `bytes` freed. */
export interface Dropped {
  firstSeq: number;
  endSeq: number;
  bytes: number;
}

/** The number of ordering buckets topics hash into (see consumer.ts). */
export const BUCKETS = 4096;

export interface LaneStore extends EventEmitter<{ durable: []; damaged: [Damage] }> {
  readonly name: string;
  open(): Promise<OpenReport>;
  /**
   * Queues records for the next group commit. The promise resolves once they are durable; the
   * caller has checked the byte budget first.
   */
  append(recs: NewRecord[]): Promise<void>;
  /** Durable records from `from` on, about `maxBytes` of them; `end` is where to continue. */
  read(from: Pos, maxBytes: number): Promise<{ records: ReadRecord[]; end: Pos }>;
  /**
   * A position saved by an earlier run (the checkpoint), made safe to read from after open():
   * its seq is kept, but a file offset into a tail that open() cut off points at the cut instead,
   * where the records appended since are (else a reader would skip them).
   */
  fromCheckpoint(pos: Pos): Pos;
  /** The oldest record still held. */
  headPos(): Pos;
  /** Just past the newest durable record. */
  endPos(): Pos;
  /** The seq the next appended record gets. */
  readonly nextSeq: number;
  /**
   * Makes the next record's seq at least `seq`: after a torn tail, seqs that may already have been
   * sent (and de-duplicated upstream by their id) are never given out again. Never goes back.
   * When idle, endPos() moves to `seq` at once; with appends pending, once they are durable.
   */
  advanceTo(seq: number): void;
  /** Bytes held, including those waiting for the next commit. */
  readonly bytes: number;
  /** For each ordering bucket, the seq of its newest appended record (-1 = none). */
  readonly lastSeqOfBucket: Float64Array;
  /**
   * Deletes what every consumer has passed: whole segments ending at or before `seq`, and the
   * active one too when everything in it is before `seq` and nothing is being written (an empty
   * one takes its place). Never a record at or after `seq`.
   */
  release(seq: number): Promise<void>;
  /** Like release(), but synchronously takes the segments out of the byte count (files go later); returns the bytes freed. */
  releaseNow(seq: number): number;
  /** Removes the oldest sealed segment; undefined when none can go. */
  dropOldest(): Dropped | undefined;
  /** Waits for the pending commit, then closes files; appends after it are refused (PublishRejected). */
  close(): Promise<void>;
  readonly bytesWritten: number;
  readonly syncs: number;
}
