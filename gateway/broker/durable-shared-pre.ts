import type { FrameRecord } from './durable-frames.ts';
import { K, PRE_ID, frame, packetFrame, type StoredPacket } from './durable-records.ts';
import type { ShareTags } from './shared-tags.ts';

// The copies of a QoS 1 message queued, before its PUBACK, for the persistent members of shared
// subscriptions picked then (shared.ts prepick). Each copy has its own PRE number: the delivery to
// its member (aedes's Client.publish, after the PUBACK) makes a packet with its own brokerCounter,
// which the copy adopts (an ADOPT record, replayed like the subscribers' ones), so the member's
// queue holds one copy, the one on disk before the PUBACK.

/** A persistent member picked before the PUBACK, and the group (key) it was picked in. */
export interface PrePicked {
  clientId: string;
  group: string;
}

/** Picks the shared-subscription members of a QoS 1 message before its PUBACK; returns the persistent ones to queue it for (shared.ts prepick). */
export type SharedPrePick = (msg: { topic: string; payload: Buffer; qos: number; clientId?: string }) => PrePicked[];

interface Pending {
  topic: string;
  /** By member: one copy per group it was picked in. */
  byClient: Map<string, { n: number; item?: StoredPacket }[]>;
}

export interface SharedPreQueueDeps {
  /** The next PRE number (shared with the subscribers' copies). */
  next(): number;
  /** Enqueues through the bounds; the queued packet object, undefined when it was dropped. */
  enqueue(clientId: string, p: StoredPacket): StoredPacket | undefined;
  append(rec: FrameRecord): void;
  /** The copies are tagged with their group (shared-tags.ts): they go to another member if theirs does not come back. */
  tags: ShareTags;
}

export class SharedPreQueue {
  /** Keyed by the publish's payload Buffer, which aedes's packet copies share. */
  private readonly pending = new WeakMap<object, Pending>();

  constructor(private readonly d: SharedPreQueueDeps) {}

  queue(packet: StoredPacket & { payload: Buffer }, members: PrePicked[]): void {
    const pending: Pending = { topic: packet.topic!, byClient: new Map() };
    for (const { clientId: c, group } of members) {
      const n = this.d.next();
      const copy = { ...packet, brokerId: PRE_ID, brokerCounter: n };
      const item = this.d.enqueue(c, copy);
      if (item) this.d.tags.tag(item, c, group);
      this.d.append(packetFrame(K.ENQ, { cs: [c], g: group }, copy));
      const list = pending.byClient.get(c) ?? [];
      list.push({ n, item });
      pending.byClient.set(c, list);
    }
    this.pending.set(packet.payload, pending);
  }

  /** A shared delivery to `clientId`: true when a copy queued before the PUBACK took the delivery's ids (nothing more to queue). */
  adopt(clientId: string, p: StoredPacket): boolean {
    const key = p.payload;
    const pending = key && typeof key === 'object' ? this.pending.get(key) : undefined;
    const one = pending && pending.topic === p.topic ? pending.byClient.get(clientId)?.shift() : undefined;
    if (!one) return false;
    if (one.item) {
      one.item.brokerId = p.brokerId;
      one.item.brokerCounter = p.brokerCounter;
    }
    this.d.append(frame(K.ADOPT, { n: one.n, b: p.brokerId, k: p.brokerCounter }));
    return true;
  }
}
