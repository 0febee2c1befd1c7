import type { Duplex } from 'node:stream';

// Which shared-subscription messages a clean-session member has been sent and not yet
// acknowledged, so that they can go to another member when its session (its connection) ends, as
// EMQX re-dispatches a terminated member's in-flight messages (a persistent member's are tagged
// in its queue instead: shared-tags.ts). aedes 1.2 keeps no in-flight record for a clean session
// and has no public way to learn the packet id it gave a delivery, so the broker reads it from its
// own side of the member's connection: the ids of the QoS > 0 PUBLISHes it writes (PublishIdReader,
// on the member's stream) and of the PUBACK/PUBREC the member returns (FrameTracker's onAck, fed
// from the connection's first byte in Broker.handle).

/** A message as the group received it, to hand to another member. */
export interface SharedMessage {
  topic: string;
  payload: Buffer | string;
  qos: number;
  /** The publisher's client id (hash_clientid). */
  clientId?: string;
}

export interface FlightEntry {
  group: string;
  msg: SharedMessage;
  /** The packet id of the PUBLISH that carried it to the member, once written. */
  id?: number;
}

/**
 * Reads the topic and packet id of each QoS > 0 PUBLISH in an MQTT byte stream written by the
 * broker (MQTT 3.1.1 section 3.3), however the bytes are split into chunks; everything else is skipped.
 */
export class PublishIdReader {
  private header: number[] = [];
  /** Bytes left in the current frame. */
  private left = 0;
  /** How many bytes of a QoS > 0 PUBLISH's topic length, topic and packet id to collect; 0 otherwise. */
  private want = 0;
  private head: Buffer[] = [];
  private headLen = 0;

  constructor(private readonly onPublish: (topic: string, id: number) => void) {}

  feed(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.left > 0) {
        const take = Math.min(this.left, chunk.length - i, this.want > 0 ? this.want - this.headLen : Infinity);
        if (this.want > 0) this.collect(chunk.subarray(i, i + take));
        this.left -= take;
        i += take;
        continue;
      }
      this.header.push(chunk[i++]!);
      if (this.header.length === 1 || this.header[this.header.length - 1]! & 0x80) continue;
      let len = 0;
      for (let k = this.header.length - 1; k >= 1; k--) len = len * 128 + (this.header[k]! & 0x7f);
      const type = this.header[0]!;
      this.header = [];
      this.head = [];
      this.headLen = 0;
      this.left = len;
      this.want = type >> 4 === 3 && (type >> 1) & 3 ? 2 : 0; // PUBLISH, QoS 1 or 2: topic length first
    }
  }

  private collect(part: Buffer): void {
    this.head.push(part);
    this.headLen += part.length;
    if (this.want === 2 && this.headLen >= 2) {
      const b = Buffer.concat(this.head);
      this.want = 4 + b.readUInt16BE(0); // topic length, topic, packet id
      this.head = [b];
    }
    if (this.headLen < this.want) return;
    const b = Buffer.concat(this.head);
    const topicLen = b.readUInt16BE(0);
    this.onPublish(b.toString('utf8', 2, 2 + topicLen), b.readUInt16BE(2 + topicLen));
    this.head = [];
    this.headLen = 0;
    this.want = 0;
  }
}

interface Member {
  /** Sent, no packet id seen yet (in the order sent). */
  unsent: FlightEntry[];
  byId: Map<number, FlightEntry>;
}

/** The shared messages in flight to each member, by client id; at most `max` per member. */
export class InFlight {
  private readonly members = new Map<string, Member>();
  private readonly watched = new WeakSet<Duplex>();

  constructor(private readonly max: number, private readonly onOverflow: () => void) {}

  /**
   * Starts reading the packet ids the broker writes to a member's connection. aedes writes each
   * packet in one synchronous call, so between two JavaScript turns the stream is at a packet boundary.
   */
  watch(clientId: string, conn: Duplex): void {
    if (this.watched.has(conn)) return;
    this.watched.add(conn);
    const reader = new PublishIdReader((topic, id) => this.written(clientId, topic, id));
    const write = conn.write.bind(conn) as (...args: unknown[]) => boolean;
    conn.write = ((chunk: Buffer | string, ...rest: unknown[]) => {
      reader.feed(typeof chunk === 'string' ? Buffer.from(chunk, typeof rest[0] === 'string' ? (rest[0] as BufferEncoding) : 'utf8') : chunk);
      return write(chunk, ...rest);
    }) as Duplex['write'];
  }

  sent(clientId: string, entry: FlightEntry): void {
    let m = this.members.get(clientId);
    if (!m) this.members.set(clientId, (m = { unsent: [], byId: new Map() }));
    m.unsent.push(entry);
    if (m.unsent.length + m.byId.size <= this.max) return;
    // The oldest entry is forgotten: it will not be redelivered if the member is lost.
    if (m.byId.size) m.byId.delete(m.byId.keys().next().value!);
    else m.unsent.shift();
    this.onOverflow();
  }

  /** The broker handed `entry` to aedes and aedes is done with it: not written while connected = refused at delivery (ACL). */
  settled(clientId: string, entry: FlightEntry, connected: boolean): void {
    if (entry.id !== undefined || !connected) return;
    const m = this.members.get(clientId);
    const k = m?.unsent.indexOf(entry) ?? -1;
    if (k >= 0) m!.unsent.splice(k, 1);
    this.prune(clientId);
  }

  /** A PUBACK or PUBREC from the member. */
  acked(clientId: string, id: number): void {
    if (this.members.get(clientId)?.byId.delete(id)) this.prune(clientId);
  }

  /** Everything the member has not acknowledged, forgotten here. */
  take(clientId: string): FlightEntry[] {
    const m = this.members.get(clientId);
    if (!m) return [];
    this.members.delete(clientId);
    return [...m.byId.values(), ...m.unsent];
  }

  get size(): number {
    let n = 0;
    for (const m of this.members.values()) n += m.unsent.length + m.byId.size;
    return n;
  }

  private written(clientId: string, topic: string, id: number): void {
    const m = this.members.get(clientId);
    if (!m || m.byId.get(id)?.msg.topic === topic) return; // a persistent session's resend
    const k = m.unsent.findIndex((e) => e.msg.topic === topic);
    if (k < 0) return; // not a shared delivery
    const [e] = m.unsent.splice(k, 1);
    e!.id = id;
    m.byId.set(id, e!);
  }

  private prune(clientId: string): void {
    const m = this.members.get(clientId);
    if (m && !m.unsent.length && !m.byId.size) this.members.delete(clientId);
  }
}
