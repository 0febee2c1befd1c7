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
  private remaining = 0; // body bytes of the current frame still to come
  private lengthBytes = -1; // -1: the next byte is a type/flags byte; else remaining-length bytes read
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

  /** The next byte written starts a frame (a string never does: mqtt-packet writes only topics and ids so). */
  get atFrameStart(): boolean {
    return this.remaining === 0 && this.lengthBytes < 0;
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
