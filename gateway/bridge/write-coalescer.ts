import type { Writable } from 'node:stream';

/** Bytes of one slab the small writes are copied into. */
const SLAB = 64 * 1024;
/** A chunk this large is passed through as it is (after what is pending), not copied. */
const PASS_THROUGH = 8 * 1024;

type WriteCb = (err?: Error | null) => void;

/**
 * Turns the many small writes MQTT.js makes per packet into one socket write per turn of the
 * event loop. mqtt-packet writes a PUBLISH as six or seven separate `stream.write` calls (fixed
 * header, length, topic length, topic, packet id, properties, payload), each a trip through the
 * Writable machinery (a buffered-chunk object, a callback slot, an iovec entry in the writev): at
 * 200 messages in flight that per-chunk work and its garbage were a large share of the bridge's
 * CPU. Here each write is a copy into a slab and the bytes of a whole window refill leave in one
 * `write` of one Buffer, on the next tick (after the pump that wrote them).
 *
 * Only `write` and `end` of this one stream object are replaced (instance properties; Node's and
 * MQTT.js's code are untouched): a write with a callback, an `end`, or a chunk of PASS_THROUGH
 * bytes or more first sends what is pending, so the order of bytes never changes. Bytes pending
 * when the stream is destroyed are dropped, as the socket's own buffer would be: nothing is lost,
 * the bridge log resends every message not acknowledged.
 */
export function coalesceWrites(stream: Writable): void {
  const write = stream.write.bind(stream) as (chunk: unknown, encoding?: BufferEncoding, cb?: WriteCb) => boolean;
  const end = stream.end.bind(stream) as (...args: unknown[]) => Writable;
  let slab = Buffer.allocUnsafe(SLAB);
  /** slab[start..off) is written but not yet handed to the socket; slab[..start) was handed over. */
  let start = 0;
  let off = 0;
  let queued = false;

  const flush = (): void => {
    queued = false;
    if (off === start) return;
    const chunk = slab.subarray(start, off);
    start = off;
    // The socket may keep the chunk until the kernel takes it: those bytes are never written again.
    if (!stream.destroyed && !stream.writableEnded) write(chunk);
  };

  const room = (n: number): void => {
    if (off + n <= SLAB) return;
    flush();
    slab = Buffer.allocUnsafe(SLAB);
    start = 0;
    off = 0;
  };

  stream.write = ((chunk: unknown, encoding?: BufferEncoding | WriteCb, cb?: WriteCb): boolean => {
    if (typeof encoding === 'function') {
      cb = encoding;
      encoding = undefined;
    }
    if (typeof chunk === 'string' && (encoding === undefined || encoding === 'utf8') && chunk.length * 3 < PASS_THROUGH && !cb) {
      // At most 3 bytes per UTF-16 unit: room for the worst case, then the exact count written.
      room(chunk.length * 3);
      off += slab.write(chunk, off);
    } else if (Buffer.isBuffer(chunk) && chunk.length < PASS_THROUGH && !cb) {
      const n = chunk.length;
      room(n);
      // The fixed header, lengths and packet id are 1-4 bytes: a loop beats copy()'s checks.
      if (n <= 16) for (let i = 0; i < n; i++) slab[off++] = chunk[i]!;
      else off += chunk.copy(slab, off);
    } else {
      flush();
      return write(chunk, encoding, cb);
    }
    if (!queued) {
      queued = true;
      process.nextTick(flush);
    }
    return !stream.writableNeedDrain;
  }) as Writable['write'];

  stream.end = ((...args: unknown[]): Writable => {
    flush();
    return end(...args);
  }) as Writable['end'];
}
