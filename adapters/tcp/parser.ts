import { FrameError, FrameType, MAX_PAYLOAD, isSingleByte, type RawFrame } from './codec.ts';

export type Role = 'server' | 'client';

export interface ParserOptions {
  /** Largest payload accepted; a longer declared length fails with `frame_too_large` before any of it is buffered. */
  maxPayload?: number;
  /** Which frame types may arrive: a server reads device frames, a client reads gateway frames. */
  role?: Role;
}

// Types each side may receive. Anything else is garbage for that side (`parse_error`).
const FROM_DEVICE = new Set<number>([FrameType.CONNECT, FrameType.DATATRANS, FrameType.PING, FrameType.DISCONNECT, FrameType.ACK]);
const FROM_GATEWAY = new Set<number>([FrameType.CONNACK, FrameType.DATATRANS, FrameType.PONG, FrameType.ACK]);

/**
 * Streaming frame parser. TCP delivers bytes, not frames: one chunk may hold half a header, or
 * several frames ("sticky packets"). The parser keeps at most one partially received frame, whose
 * buffer is allocated once at the declared size, so memory per connection is bounded by
 * `maxPayload + 3` bytes whatever the peer sends. After the first error it stays failed: a stream
 * that lost framing cannot be resynchronised (there is no sync marker), so the caller closes it.
 */
export class FrameParser {
  private readonly maxPayload: number;
  private readonly allowed: Set<number>;
  // Header state: 0 = want header byte, 1 = want length high, 2 = want length low, 3 = in payload.
  private stage = 0;
  private header = 0;
  private length = 0;
  private body?: Buffer;
  private filled = 0;
  private failed?: FrameError;
  private held?: Uint8Array;

  constructor(opts: ParserOptions = {}) {
    this.maxPayload = Math.min(opts.maxPayload ?? MAX_PAYLOAD, MAX_PAYLOAD);
    this.allowed = opts.role === 'client' ? FROM_GATEWAY : FROM_DEVICE;
  }

  /** Bytes held for an incomplete frame or a paused chunk (what a connection costs beyond its socket). */
  get buffered(): number {
    return (this.body ? this.body.length : 0) + (this.held ? this.held.length : 0);
  }

  get error(): FrameError | undefined {
    return this.failed;
  }

  /** True when the consumer asked to stop and unparsed bytes are held; call resume() later. */
  get blocked(): boolean {
    return this.held !== undefined;
  }

  /**
   * Feeds one chunk. Complete frames go to `onFrame` in order; returns the error that ended the
   * stream, if any (frames before the bad byte have been delivered). Never throws.
   *
   * `onFrame` may return false to stop after that frame (its queue is full): the rest of the chunk
   * is held, at most one chunk, until resume(). This is what bounds a connection's memory when a
   * single 64 KB read holds thousands of tiny frames.
   */
  push(chunk: Uint8Array, onFrame: (f: RawFrame) => boolean | void): FrameError | undefined {
    if (this.failed) return this.failed;
    if (this.held) {
      // Only if the caller kept reading while blocked; still bounded by what it chose to read.
      this.held = Buffer.concat([this.held, chunk]);
      return undefined;
    }
    return this.run(chunk, onFrame);
  }

  /** Continues with held bytes after push() or resume() stopped early. */
  resume(onFrame: (f: RawFrame) => boolean | void): FrameError | undefined {
    if (this.failed) return this.failed;
    const held = this.held;
    if (!held) return undefined;
    this.held = undefined;
    return this.run(held, onFrame);
  }

  private run(chunk: Uint8Array, onFrame: (f: RawFrame) => boolean | void): FrameError | undefined {
    let i = 0;
    let more = true;
    const deliver = (f: RawFrame) => {
      if (onFrame(f) === false) more = false;
    };
    while (i < chunk.length) {
      if (!more) {
        this.held = chunk.subarray(i);
        return undefined;
      }
      const next = this.step(chunk, i, deliver);
      if (typeof next !== 'number') return next;
      i = next;
    }
    return undefined;
  }

  /** Consumes bytes from chunk[i] on for the current stage; returns the next index, or the error. */
  private step(chunk: Uint8Array, i: number, deliver: (f: RawFrame) => void): number | FrameError {
    switch (this.stage) {
      case 0:
        return this.readHeader(chunk[i]!, deliver) ?? i + 1;
      case 1:
        this.length = chunk[i]! << 8;
        this.stage = 2;
        return i + 1;
      case 2:
        return this.readLength(chunk, i, deliver);
      default:
        return this.readBody(chunk, i, deliver);
    }
  }

  private readHeader(h: number, deliver: (f: RawFrame) => void): FrameError | undefined {
    const type = h >> 4;
    const flags = h & 0x0f;
    if (!this.allowed.has(type)) return this.fail('parse_error', `unexpected frame type ${type} (header byte 0x${hex(h)})`);
    if (isSingleByte(type)) {
      if (flags !== 0) return this.fail('parse_error', `1-byte frame 0x${hex(h)} has flags set`);
      deliver({ type, flags, payload: EMPTY });
      return undefined;
    }
    this.header = h;
    this.stage = 1;
    return undefined;
  }

  /** chunk[i] is the length's low byte. */
  private readLength(chunk: Uint8Array, i: number, deliver: (f: RawFrame) => void): number | FrameError {
    this.length |= chunk[i++]!;
    if (this.length > this.maxPayload) {
      return this.fail('frame_too_large', `frame 0x${hex(this.header)} declares ${this.length} payload bytes, over max_packet_size ${this.maxPayload}`);
    }
    if (this.length === 0) {
      this.emit(EMPTY, deliver);
      return i;
    }
    // Fast path: the whole payload is in this chunk. Copy it out anyway, so a small frame
    // never pins the socket's 64 KB read buffer while it waits in a queue.
    if (chunk.length - i >= this.length) {
      this.emit(Buffer.from(chunk.subarray(i, i + this.length)), deliver);
      return i + this.length;
    }
    this.body = Buffer.allocUnsafe(this.length);
    this.filled = 0;
    this.stage = 3;
    return i;
  }

  private readBody(chunk: Uint8Array, i: number, deliver: (f: RawFrame) => void): number {
    const body = this.body as Buffer;
    const take = Math.min(body.length - this.filled, chunk.length - i);
    body.set(chunk.subarray(i, i + take), this.filled);
    this.filled += take;
    if (this.filled === body.length) {
      this.body = undefined;
      this.emit(body, deliver);
    }
    return i + take;
  }

  private emit(payload: Buffer, onFrame: (f: RawFrame) => void): void {
    this.stage = 0;
    onFrame({ type: this.header >> 4, flags: this.header & 0x0f, payload });
  }

  private fail(reason: FrameError['reason'], message: string): FrameError {
    this.failed = new FrameError(reason, message);
    this.body = undefined;
    this.held = undefined;
    return this.failed;
  }
}

const EMPTY = Buffer.alloc(0);

function hex(b: number): string {
  return b.toString(16).padStart(2, '0');
}
