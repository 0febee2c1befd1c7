// Block-wise transfer (RFC 7959): the Block1/Block2 option codec and the Block1 reassembly state.
// node-coap's own server-side Block1 reassembly keys blocks by token and breaks against libcoap 4.3,
// which sends each block with a new token (allowed by RFC 7959) plus a Request-Tag, so uploads are
// reassembled here per peer + path + Request-Tag, bounded in memory and time.

export interface Block {
  num: number;
  more: boolean;
  /** SZX: the block size is 2 ** (szx + 4), 16 to 1024 bytes. */
  szx: number;
}

export const blockSize = (szx: number): number => 2 ** (szx + 4);

/** Largest SZX whose block size is <= `bytes` (bytes in 16..1024). */
export function szxFor(bytes: number): number {
  return Math.max(0, Math.min(6, Math.floor(Math.log2(bytes)) - 4));
}

/** Decodes a Block1/Block2 option value, or explains why it is invalid. */
export function decodeBlock(value: Buffer): Block | string {
  if (value.length > 3) return `block option of ${value.length} bytes (at most 3)`;
  let v = 0;
  for (const b of value) v = v * 256 + b;
  const szx = v & 7;
  if (szx === 7) return 'block size exponent 7 is reserved (BERT is for CoAP over TCP)';
  return { num: v >>> 4, more: (v & 8) !== 0, szx };
}

export function encodeBlock(b: Block): Buffer {
  if (b.num < 0 || b.num > 0xfffff || !Number.isInteger(b.num)) throw new RangeError(`block number ${b.num} does not fit 20 bits`);
  if (b.szx < 0 || b.szx > 6) throw new RangeError(`block size exponent ${b.szx} out of range 0..6`);
  const v = (b.num << 4) | (b.more ? 8 : 0) | b.szx;
  if (v === 0) return Buffer.alloc(0);
  if (v < 0x100) return Buffer.from([v]);
  if (v < 0x10000) return Buffer.from([v >> 8, v & 0xff]);
  return Buffer.from([v >> 16, (v >> 8) & 0xff, v & 0xff]);
}

/** Block `num` of `payload` in blocks of 2 ** (szx + 4) bytes, or undefined past the end. */
export function sliceBlock(payload: Buffer, num: number, szx: number): { data: Buffer; more: boolean } | undefined {
  const size = blockSize(szx);
  const start = num * size;
  if (start >= payload.length && !(num === 0 && payload.length === 0)) return undefined;
  return { data: payload.subarray(start, start + size), more: start + size < payload.length };
}

/** The 2-byte ETag node-coap puts on the Block2 responses it slices, so our first block matches. */
export function etagOf(payload: Buffer): Buffer {
  const id = Buffer.of(0, 0);
  for (let i = 0; i < payload.length; i += 2) {
    id[0]! ^= payload[i]!;
    id[1]! ^= payload[i + 1] ?? 0;
  }
  return id;
}

export interface Block1Limits {
  /** Largest reassembled body; a larger one gets 4.13. */
  maxBody: number;
  /** All partial uploads together; beyond it new uploads get 5.03. */
  maxBuffered: number;
  /** Concurrent uploads one peer may have open; the oldest gives way. */
  maxPerPeer: number;
  /** Partial uploads open at once, across all peers. */
  maxTransfers: number;
  /** A partial upload with no block for this long is dropped. */
  timeoutMs: number;
}

export type Block1Result =
  | { kind: 'continue' }
  | { kind: 'complete'; body: Buffer }
  | { kind: 'error'; code: '4.00' | '4.08' | '4.13' | '5.03'; message: string };

interface Transfer {
  peer: string;
  chunks: Buffer[];
  length: number;
  last: number;
}

/** Reassembly state for Block1 uploads. Pure apart from the injected clock. */
export class Block1Assembler {
  private readonly transfers = new Map<string, Transfer>();
  private buffered = 0;

  constructor(private readonly limits: Block1Limits, private readonly now: () => number = Date.now) {}

  /** Bytes held by partial uploads. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  get openTransfers(): number {
    return this.transfers.size;
  }

  /**
   * Takes one block of an upload. `key` identifies the upload (peer + path + Request-Tag), `peer`
   * the sender; `size1` is the total size a client may announce in block 0.
   */
  accept(peer: string, key: string, block: Block, payload: Buffer, size1?: number): Block1Result {
    this.prune();
    const size = blockSize(block.szx);
    if (block.more && payload.length !== size) {
      this.drop(key);
      return { kind: 'error', code: '4.00', message: `block ${block.num} has ${payload.length} bytes, expected ${size}` };
    }
    let t = this.transfers.get(key);
    if (block.num === 0) {
      if (t) this.drop(key);
      if (size1 !== undefined && size1 > this.limits.maxBody) return tooLarge(this.limits.maxBody);
      if (!block.more) return payload.length > this.limits.maxBody ? tooLarge(this.limits.maxBody) : { kind: 'complete', body: payload };
      this.makeRoomFor(peer);
      if (this.buffered + payload.length > this.limits.maxBuffered || this.transfers.size >= this.limits.maxTransfers) {
        return { kind: 'error', code: '5.03', message: 'too many uploads in progress; retry later' };
      }
      t = { peer, chunks: [], length: 0, last: this.now() };
      this.transfers.set(key, t);
    } else if (!t) {
      return { kind: 'error', code: '4.08', message: `block ${block.num} without the blocks before it` };
    }
    const offset = block.num * size;
    if (offset < t.length) {
      // A repeat of a block we already have (the client missed our 2.31): acknowledge it again.
      if (offset + payload.length <= t.length) return block.more ? { kind: 'continue' } : this.finish(key, t);
      this.drop(key);
      return { kind: 'error', code: '4.08', message: `block ${block.num} overlaps received data` };
    }
    if (offset > t.length) {
      this.drop(key);
      return { kind: 'error', code: '4.08', message: `block ${block.num} at byte ${offset}, expected byte ${t.length}` };
    }
    if (t.length + payload.length > this.limits.maxBody) {
      this.drop(key);
      return tooLarge(this.limits.maxBody);
    }
    if (this.buffered + payload.length > this.limits.maxBuffered) {
      this.drop(key);
      return { kind: 'error', code: '5.03', message: 'upload buffer full; retry later' };
    }
    t.chunks.push(payload);
    t.length += payload.length;
    t.last = this.now();
    this.buffered += payload.length;
    // Keep the map in least-recently-active order so makeRoomFor finds the oldest first.
    this.transfers.delete(key);
    this.transfers.set(key, t);
    return block.more ? { kind: 'continue' } : this.finish(key, t);
  }

  private finish(key: string, t: Transfer): Block1Result {
    const body = Buffer.concat(t.chunks, t.length);
    this.drop(key);
    return { kind: 'complete', body };
  }

  private makeRoomFor(peer: string): void {
    let count = 0;
    for (const t of this.transfers.values()) if (t.peer === peer) count++;
    for (const [k, t] of this.transfers) {
      if (count < this.limits.maxPerPeer) break;
      if (t.peer === peer) {
        this.drop(k);
        count--;
      }
    }
  }

  drop(key: string): void {
    const t = this.transfers.get(key);
    if (!t) return;
    this.buffered -= t.length;
    this.transfers.delete(key);
  }

  /** Drops uploads idle for longer than the timeout. */
  prune(): void {
    const cutoff = this.now() - this.limits.timeoutMs;
    for (const [k, t] of this.transfers) if (t.last <= cutoff) this.drop(k);
  }

  clear(): void {
    this.transfers.clear();
    this.buffered = 0;
  }
}

function tooLarge(max: number): Block1Result {
  return { kind: 'error', code: '4.13', message: `body larger than ${max} bytes` };
}
