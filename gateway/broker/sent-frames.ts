import type { Duplex } from 'node:stream';

/**
 * Counts the MQTT packets written to a client's connection (EMQX's send_pkt), and the QoS 1/2
 * PUBLISH packets among them that are not retransmissions, by reading the fixed header of each
 * frame (MQTT 3.1.1 section 2.2) in the bytes handed to the stream, as FrameTracker does for what
 * is read. aedes reports no event per packet written, only some of them. Nothing is allocated per
 * write: every delivery passes here.
 */
export class SentFrames {
  /** Frames whose fixed header has been written. */
  frames = 0;
  /** PUBLISH frames with QoS 1 or 2 and DUP 0: the messages that enter the client's in-flight window. */
  qosPublishes = 0;
  protected remaining = 0; // body bytes of the current frame still to come
  protected lengthBytes = -1; // -1: the next byte is a type/flags byte; else remaining-length bytes read
  private length = 0;
  private multiplier = 1;

  feed(chunk: Uint8Array): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, chunk.length - i);
        this.remaining -= take;
        i += take;
        continue;
      }
      const b = chunk[i++]!;
      if (this.lengthBytes < 0) {
        this.frame(b);
        continue;
      }
      this.length += (b & 0x7f) * this.multiplier;
      this.multiplier *= 128;
      this.lengthBytes++;
      if (b & 0x80 && this.lengthBytes < 4) continue;
      this.remaining = this.length;
      this.lengthBytes = -1;
    }
  }

  /** Body bytes written as a string (mqtt-packet writes topics and ids so; never a header). */
  skip(bytes: number): void {
    this.remaining = Math.max(0, this.remaining - bytes);
  }

  private frame(typeAndFlags: number): void {
    this.frames++;
    // PUBLISH (type 3): QoS in bits 1-2, DUP in bit 3.
    if (typeAndFlags >> 4 === 3 && typeAndFlags & 0x06 && !(typeAndFlags & 0x08)) this.qosPublishes++;
    this.lengthBytes = 0;
    this.length = 0;
    this.multiplier = 1;
  }
}

const OUT = Symbol('fieldgate.sentFrames');

interface Wrapped extends Duplex {
  [OUT]: Outbound;
}

/** A connection's write path: its frame counts, the stream's own write(), and its place in the current turn. */
class Outbound extends SentFrames {
  /** Corked by coalescedWrite until the next tick(). */
  corked = false;
  /** The turn in which it last began a frame. */
  turn = -1;
  constructor(
    readonly stream: Duplex,
    readonly write: Duplex['write'],
  ) {
    super();
  }

  /** The next byte written starts a frame (a string is never a frame's start: mqtt-packet writes only topics and ids so). */
  get atFrameStart(): boolean {
    return this.remaining === 0 && this.lengthBytes < 0;
  }
}

/** Event-loop turns, as counted by tick(): one setImmediate for all connections, queued only after a write. */
let turn = 0;
let ticking = false;
const corked: Outbound[] = [];

/** Ends the turn: every connection corked in it is uncorked, so its frames of the turn leave in one writev. */
function tick(): void {
  ticking = false;
  turn++;
  for (const out of corked) {
    out.corked = false;
    out.stream.uncork();
  }
  corked.length = 0;
}

/**
 * The one write() of every wrapped connection (this: the stream; one function for all of them,
 * no closure per connection). It counts the frame bytes, then hands them to the stream's own
 * write() and returns what that returns, so aedes' back-pressure (it waits for 'drain' when
 * write() says false) sees the stream's own answer.
 *
 * Coalescing: mqtt-packet corks the stream for one packet and uncorks it on the next tick, and
 * aedes writes each delivery and each PUBACK from its own setImmediate, so every packet was its
 * own writev syscall (a third of the broker's CPU at high rates). Now the first frame a connection
 * gets in a turn is written as before (at a low rate every message is such a first one: no added
 * latency), and a second one in the same turn corks the connection until tick(), which runs in the
 * next check phase whatever happens (the poll for I/O in between does not block while an
 * immediate is pending): the rest of the turn's frames leave in one writev, in the order they were
 * written, and nothing waits for more traffic. Anything aedes does after a write (its write
 * callback, the close after a refused CONNACK) comes from a setImmediate queued after tick's, so it
 * runs after the bytes were handed over. A corked stream counts what it holds in writableLength,
 * so write() says false past the high-water mark as before, and its 'drain' comes once tick() has
 * written it out.
 */
function coalescedWrite(this: Wrapped, chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
  const out = this[OUT];
  if (typeof chunk === 'string') out.skip(Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8'));
  else if (chunk instanceof Uint8Array) {
    if (!out.corked && out.atFrameStart) {
      if (out.turn === turn) {
        out.corked = true;
        this.cork();
        corked.push(out);
      } else out.turn = turn;
      if (!ticking) {
        ticking = true;
        setImmediate(tick);
      }
    }
    out.feed(chunk);
  }
  return (out.write as (c: unknown, e?: unknown, f?: unknown) => boolean).call(this, chunk, encoding, cb);
}

/**
 * Counts what is written to `stream` from now on, and coalesces a busy connection's writes of one
 * event-loop turn into one writev (see coalescedWrite): its write() is replaced by that one function.
 */
export function countSentFrames(stream: Duplex): SentFrames {
  const out = new Outbound(stream, stream.write);
  (stream as Wrapped)[OUT] = out;
  stream.write = coalescedWrite as Duplex['write'];
  return out;
}
