/**
 * Tracks MQTT frame boundaries in a byte stream by reading each fixed header's Remaining Length
 * (MQTT 3.1.1 section 2.2.3) and reports a frame larger than `maxBytes` before it is buffered.
 * aedes (1.2) has no packet size limit of its own, and its parser buffers a whole frame in memory.
 */
export class FrameTracker {
  private headerBytes: number[] = [];
  private remaining = 0; // body bytes left in the current frame

  constructor(private readonly maxBytes: number) {}

  /** Returns the size of the first oversize frame seen in `chunk`, or 0; -1 for a malformed length. */
  feed(chunk: Buffer): number {
    let i = 0;
    while (i < chunk.length) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, chunk.length - i);
        this.remaining -= take;
        i += take;
        continue;
      }
      this.headerBytes.push(chunk[i++]!);
      if (this.headerBytes.length === 1) continue; // the type/flags byte
      const b = this.headerBytes[this.headerBytes.length - 1];
      if (b! & 0x80) {
        if (this.headerBytes.length > 4) return -1; // [MQTT-2.2.3] at most 4 length bytes
        continue;
      }
      let len = 0;
      for (let k = this.headerBytes.length - 1; k >= 1; k--) len = len * 128 + (this.headerBytes[k]! & 0x7f);
      const total = len + this.headerBytes.length;
      this.headerBytes = [];
      if (total > this.maxBytes) return total;
      this.remaining = len;
    }
    return 0;
  }
}

