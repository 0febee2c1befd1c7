import type { Duplex } from 'node:stream';
import { SentFrames } from './sent-frames.ts';

// The broker's write path: every byte aedes writes to a client's connection passes here, once per
// chunk (mqtt-packet writes a PUBLISH as five or six write() calls: fixed header, length, topic
// length, topic, packet id, payload).
//
// Why: aedes writes each delivery and each PUBACK from its own setImmediate, and mqtt-packet corks
// the stream for one packet only, so every packet was its own writev syscall plus a trip through
// the Writable machinery per chunk (a buffered-chunk object, a callback slot, an iovec): with the
// syscall, a third of the broker's CPU at high rates.
//
// How: the first frame a connection gets in an event-loop turn is written as before (at a low
// rate every message is such a first one: no added latency). When a second frame begins in the
// same turn the connection is busy: the rest of the turn's bytes are copied into its slab, and
// tick() (one setImmediate for all connections, queued by the first write of a turn) hands each
// busy connection's slab to its stream as one chunk: one write, one writev. tick() runs in the
// next check phase whatever happens (the poll for I/O in between does not block while an
// immediate is pending), so nothing waits for more traffic; anything aedes does after a write
// (its write callback, the close after a refused CONNACK) comes from a setImmediate queued after
// tick's, so it runs after the bytes were handed over. Bytes keep their order: a chunk that is
// not copied (a payload of PASS_THROUGH bytes or more, a write with a callback) first sends what
// is pending. end() and a destroy() without an error (aedes' close on a takeover or DISCONNECT,
// the broker's refusals, a listener's stop) first hand over what is pending, so a PUBACK or a
// delivery written in the same turn still reaches the kernel, as it did when every write went
// straight to the socket. After a destroy with an error (the connection is broken) or once the
// stream has ended, pending bytes are dropped, as the socket's own buffer would be.
//
// Back-pressure: aedes waits for 'drain' when write() says false. A copied chunk answers what the
// stream would (false once it reported back-pressure: writableNeedDrain), so 'drain' comes from
// the stream as before; what a turn copies beyond that is bounded by one slab before the stream
// itself sees it and says false.

/** Bytes of a busy connection's slab. */
const SLAB = 16 * 1024;
/** A chunk this large is handed to the stream as it is (after what is pending), not copied. */
const PASS_THROUGH = 4 * 1024;

type Write = (chunk: unknown, encoding?: unknown, cb?: unknown) => boolean;
type Call = (...args: unknown[]) => unknown;

const OUT = Symbol('fieldgate.writePath');

interface Wrapped extends Duplex {
  [OUT]: Outbound;
}

/** A connection's write path: its frame counts, the stream's own write(), its state in this turn and its slab. */
class Outbound extends SentFrames {
  /** The turn in which it last began a frame. */
  turn = -1;
  /** A second frame began in this turn: its bytes, and the rest of the turn's, go to the slab. */
  busy = false;
  /** In `holders`: it has a slab. */
  held = false;
  slab: Buffer | undefined = undefined;
  /** slab[start..off) is copied and not yet handed to the stream. */
  start = 0;
  off = 0;

  constructor(
    readonly stream: Duplex,
    readonly write: Write,
    readonly end: Call,
    readonly destroy: Call,
  ) {
    super();
  }

  /** Hands the pending bytes to the stream; once the stream has written everything out, the slab is reused from its start. */
  flush(): void {
    if (this.off === this.start) return;
    const chunk = this.slab!.subarray(this.start, this.off);
    this.start = this.off;
    if (this.stream.destroyed || this.stream.writableEnded) return;
    this.write.call(this.stream, chunk);
    // Written synchronously (the kernel took it): nobody holds the chunk any more.
    if (this.stream.writableLength === 0) this.start = this.off = 0;
  }

  /** The slab, with room for `n` more bytes at `off`. */
  room(n: number): Buffer {
    if (this.slab && this.off + n <= this.slab.length) return this.slab;
    this.flush();
    this.slab = Buffer.allocUnsafe(Math.max(SLAB, n));
    this.start = this.off = 0;
    if (!this.held) {
      this.held = true;
      holders.push(this);
    }
    return this.slab;
  }
}

/** Event-loop turns, as counted by tick(). */
let turn = 0;
let ticking = false;
/** The connections that have a slab: busy in this turn or the last. */
const holders: Outbound[] = [];

function arm(): void {
  if (ticking) return;
  ticking = true;
  setImmediate(tick);
}

/**
 * Ends the turn: each busy connection's slab goes to its stream as one write; a connection that was
 * not busy in this turn gives its slab back (one more tick runs after traffic stops, for that).
 */
function tick(): void {
  ticking = false;
  turn++;
  let kept = 0;
  for (const out of holders) {
    if (out.busy) {
      out.busy = false;
      out.flush();
      holders[kept++] = out;
    } else {
      out.held = false;
      out.slab = undefined;
    }
  }
  holders.length = kept;
  if (kept) arm();
}

/** The one write() of every wrapped connection (this: the stream; no closure per connection). */
function coalescedWrite(this: Wrapped, chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
  const out = this[OUT];
  if (typeof chunk === 'string') {
    if (out.busy && cb === undefined && (encoding === undefined || encoding === 'utf8') && chunk.length * 3 < PASS_THROUGH) {
      // At most 3 bytes per UTF-16 unit: room for the worst case, then the exact count written.
      const n = out.room(chunk.length * 3).write(chunk, out.off);
      out.off += n;
      out.skip(n);
      return !this.writableNeedDrain;
    }
    out.skip(Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8'));
  } else if (chunk instanceof Uint8Array) {
    if (out.atFrameStart) {
      if (out.turn !== turn) out.turn = turn;
      else out.busy = true;
      arm();
    }
    out.feed(chunk);
    const n = chunk.length;
    if (out.busy && cb === undefined && n < PASS_THROUGH) {
      const slab = out.room(n);
      // Fixed headers, lengths and packet ids are 1-4 bytes: a loop beats set()'s checks.
      if (n <= 16) for (let i = 0; i < n; i++) slab[out.off++] = chunk[i]!;
      else {
        slab.set(chunk, out.off);
        out.off += n;
      }
      return !this.writableNeedDrain;
    }
  }
  out.flush();
  return out.write.call(this, chunk, encoding, cb);
}

/** end() of every wrapped connection: what is pending goes first (Writable's end() does not call write()). */
function flushingEnd(this: Wrapped, ...args: unknown[]): unknown {
  const out = this[OUT];
  out.flush();
  return out.end.apply(this, args);
}

/** destroy() of every wrapped connection: a close without an error sends what is pending first. */
function flushingDestroy(this: Wrapped, ...args: unknown[]): unknown {
  const out = this[OUT];
  if (args[0] == null) out.flush();
  return out.destroy.apply(this, args);
}

/**
 * Counts what is written to `stream` from now on (SentFrames) and coalesces a busy connection's
 * writes of one event-loop turn: its write() is replaced by coalescedWrite, its end() and destroy()
 * by ones that flush first; one function each for all connections.
 */
export function wrapWrites(stream: Duplex): SentFrames {
  const out = new Outbound(stream, stream.write as Write, stream.end as Call, stream.destroy as Call);
  (stream as Wrapped)[OUT] = out;
  stream.write = coalescedWrite as Duplex['write'];
  stream.end = flushingEnd as Duplex['end'];
  stream.destroy = flushingDestroy as Duplex['destroy'];
  return out;
}
