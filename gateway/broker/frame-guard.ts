/**
 * Tracks MQTT frame boundaries in a byte stream by reading each fixed header's Remaining Length
 * (MQTT 3.1.1 section 2.2.3) and reports a frame larger than `maxBytes` before it is buffered.
 * aedes (1.2) has no packet size limit of its own, and its parser buffers a whole frame in memory.
 */
export class FrameTracker {
  /** Fixed-header bytes read of the current frame (0: at a frame boundary). No array per frame: this runs for every packet. */
  private headerLen = 0;
  private type = 0;
  private len = 0;
  private multiplier = 1;
  private remaining = 0; // body bytes left in the current frame
  /** Reading a PUBACK/PUBREC's packet id (onAck): -1 none, else the bytes of it seen so far (0-1) and their value. */
  private ackBytes = -1;
  private ackId = 0;
  /** Frames whose fixed header has been read: MQTT packets received (EMQX's recv_pkt). */
  frames = 0;
  /** The client sent DISCONNECT (a normal close): aedes keeps that in a private field only. */
  sawDisconnect = false;

  /**
   * `onAck`: the packet id of each PUBACK and PUBREC (shared subscriptions track their in-flight
   * messages), with the tracker that read it: one function can serve every connection (no closure
   * per connection, client-state.ts).
   */
  constructor(private readonly maxBytes: number, private readonly onAck?: (id: number, tracker: FrameTracker) => void) {}

  /** Returns the size of the first oversize frame seen in `chunk`, or 0; -1 for a malformed length. */
  feed(chunk: Buffer): number {
    let i = 0;
    while (i < chunk.length) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, chunk.length - i);
        if (this.ackBytes >= 0) this.readAckId(chunk, i, take);
        this.remaining -= take;
        i += take;
        continue;
      }
      const b = chunk[i++]!;
      if (this.headerLen++ === 0) {
        this.type = b >> 4; // the type/flags byte
        this.len = 0;
        this.multiplier = 1;
        continue;
      }
      this.len += (b & 0x7f) * this.multiplier;
      this.multiplier *= 128;
      if (b & 0x80) {
        if (this.headerLen > 4) return -1; // [MQTT-2.2.3] at most 4 length bytes
        continue;
      }
      const total = this.len + this.headerLen;
      this.ackBytes = this.onAck && this.len === 2 && (this.type === 4 || this.type === 5) ? 0 : -1;
      if (this.type === 14) this.sawDisconnect = true;
      this.headerLen = 0;
      this.frames++;
      if (total > this.maxBytes) return total;
      this.remaining = this.len;
    }
    return 0;
  }

  private readAckId(chunk: Buffer, from: number, n: number): void {
    for (let k = from; k < from + n; k++) {
      this.ackId = this.ackBytes === 0 ? chunk[k]! * 256 : this.ackId + chunk[k]!;
      if (++this.ackBytes < 2) continue;
      this.ackBytes = -1;
      this.onAck!(this.ackId, this);
      return;
    }
  }
}
