/**
 * Tracks MQTT frame boundaries in a byte stream by reading each fixed header's Remaining Length
 * (MQTT 3.1.1 section 2.2.3) and reports a frame larger than `maxBytes` before it is buffered.
 * aedes (1.2) has no packet size limit of its own, and its parser buffers a whole frame in memory.
 */
export class FrameTracker {
  private headerBytes: number[] = [];
  private remaining = 0; // body bytes left in the current frame
  /** The packet id bytes of a PUBACK/PUBREC being read (onAck); undefined in any other frame. */
  private ackId?: number[];
  /** Frames whose fixed header has been read: MQTT packets received (EMQX's recv_pkt). */
  frames = 0;
  /** The client sent DISCONNECT (a normal close): aedes keeps that in a private field only. */
  sawDisconnect = false;

  /** `onAck`: the packet id of each PUBACK and PUBREC (shared subscriptions track their in-flight messages). */
  constructor(private readonly maxBytes: number, private readonly onAck?: (id: number) => void) {}

  /** Returns the size of the first oversize frame seen in `chunk`, or 0; -1 for a malformed length. */
  feed(chunk: Buffer): number {
    let i = 0;
    while (i < chunk.length) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, chunk.length - i);
        if (this.ackId) this.readAckId(chunk.subarray(i, i + take));
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
      const type = this.headerBytes[0]! >> 4;
      this.ackId = this.onAck && len === 2 && (type === 4 || type === 5) ? [] : undefined;
      if (type === 14) this.sawDisconnect = true;
      this.headerBytes = [];
      this.frames++;
      if (total > this.maxBytes) return total;
      this.remaining = len;
    }
    return 0;
  }

  private readAckId(part: Buffer): void {
    for (const b of part) this.ackId!.push(b);
    if (this.ackId!.length < 2) return;
    const id = this.ackId![0]! * 256 + this.ackId![1]!;
    this.ackId = undefined;
    this.onAck!(id);
  }
}

