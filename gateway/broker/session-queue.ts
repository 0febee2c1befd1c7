import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import type { EventEmitter } from 'node:events';
import { RetainedOrder, isRetainedCopy } from './retained-order.ts';
import { ShareTags, type HandOff, type ShareStore } from './shared-tags.ts';
import { grantedOnly } from './subscription-bound.ts';

// aedes-persistence's in-memory store keeps each session's outgoing queue (in-flight plus offline
// messages) in an unbounded array, so offline subscribers on a busy topic grow the heap until the
// Pi dies. This subclass keeps the same contract but bounds the queues like EMQX's mqueue:
// `max_queued_messages` and `max_session_queue_bytes` per session (the oldest dropped), and
// `max_queued_bytes` over all sessions (the new message dropped for that session). Everything
// else (retained messages, subscriptions, wills, QoS 2 state) stays with the library.
const require = createRequire(import.meta.url);
const MemoryPersistence: new (opts?: object) => any = require('aedes-persistence/asyncPersistence.js');
const Packet: new (p: any) => any = require('aedes-packet');

export interface QueuedPacket {
  brokerId?: string;
  brokerCounter?: number;
  messageId?: number;
  /** Absent on a PUBREL that replaces a QoS 2 PUBLISH in the queue. */
  topic: string | undefined;
  payload?: Buffer | string;
  qos?: number;
}

/**
 * What one queued message costs in heap: its topic and payload plus the packet object around them
 * (an aedes Packet with its fields is about 200 bytes). Payloads shared between sessions are
 * counted once per session: the bound errs on the safe side.
 */
export const PACKET_OVERHEAD = 200;

export function packetBytes(p: QueuedPacket): number {
  const payload = p.payload === undefined ? 0 : typeof p.payload === 'string' ? Buffer.byteLength(p.payload) : p.payload.length;
  return PACKET_OVERHEAD + (p.topic?.length ?? 0) + payload;
}

export type DropWhy = 'queue_full' | 'session_bytes' | 'total_bytes';

export interface SessionQueueOptions {
  maxQueued: number;
  maxSessionBytes: number;
  maxTotalBytes: number;
  onDrop(clientId: string, dropped: QueuedPacket, why: DropWhy): void;
}

interface Queue {
  items: QueuedPacket[];
  bytes: number;
}

/**
 * The bounded outgoing queues, one per client id: the bookkeeping (bounds, byte counts, drops)
 * without the persistence contract around it.
 */
export class SessionQueues {
  readonly queues = new Map<string, Queue>();
  totalBytes = 0;

  constructor(private readonly opts: SessionQueueOptions) {}

  /** The queued copy; undefined when the global bound refused it. */
  enqueue(clientId: string, packet: QueuedPacket): QueuedPacket | undefined {
    const size = packetBytes(packet);
    // The global bound takes the new message, not someone else's old one: one busy session
    // cannot empty the queues of the others.
    if (this.totalBytes + size > this.opts.maxTotalBytes) {
      this.opts.onDrop(clientId, packet, 'total_bytes');
      return undefined;
    }
    let q = this.queues.get(clientId);
    if (!q) {
      q = { items: [], bytes: 0 };
      this.queues.set(clientId, q);
    }
    // [MQTT-3.3.1-9]: a message for an established subscription goes out with RETAIN 0, queued or
    // live (aedes clears the flag only on live delivery, and reads a set flag as "not tracked").
    const queued = new Packet(packet);
    queued.retain = false;
    q.items.push(queued);
    this.add(q, size);
    this.dropOldest(clientId, q);
    return queued;
  }

  /** The queued copy of a published message (searched from the newest: it was queued just before its delivery). */
  find(clientId: string, brokerId: string, brokerCounter: number | undefined): QueuedPacket | undefined {
    const items = this.queues.get(clientId)?.items ?? [];
    for (let i = items.length - 1; i >= 0; i--) {
      const p = items[i]!;
      if (p.brokerId === brokerId && p.brokerCounter === brokerCounter) return p;
    }
    return undefined;
  }

  /** Takes these queued packets out (shared-subscription messages handed to another member). */
  removeItems(clientId: string, items: ReadonlySet<QueuedPacket>): void {
    const q = this.queues.get(clientId);
    if (!q || !items.size) return;
    q.items = q.items.filter((p) => {
      if (!items.has(p)) return true;
      this.add(q, -packetBytes(p));
      return false;
    });
    if (!q.items.length) this.remove(clientId);
  }

  private dropOldest(clientId: string, q: Queue): void {
    while (q.items.length > 1 && (q.items.length > this.opts.maxQueued || q.bytes > this.opts.maxSessionBytes)) {
      const why: DropWhy = q.items.length > this.opts.maxQueued ? 'queue_full' : 'session_bytes';
      const old = q.items.shift()!;
      this.add(q, -packetBytes(old));
      this.opts.onDrop(clientId, old, why);
    }
  }

  private add(q: Queue, bytes: number): void {
    q.bytes += bytes;
    this.totalBytes += bytes;
  }

  remove(clientId: string): void {
    const q = this.queues.get(clientId);
    if (!q) return;
    this.totalBytes -= q.bytes;
    this.queues.delete(clientId);
  }

  /** aedes assigned a message id to a queued message, or a PUBREL replaces a QoS 2 PUBLISH. */
  update(clientId: string, packet: QueuedPacket): void {
    const q = this.queues.get(clientId);
    if (!q) return;
    for (let i = 0; i < q.items.length; i++) {
      const p = q.items[i]!;
      // A PUBREL carries no broker identity: it is found by its packet id alone (matching
      // undefined identities would renumber an earlier PUBREL and lose its message's flow).
      if (packet.brokerId !== undefined && p.brokerId === packet.brokerId) {
        if (p.brokerCounter === packet.brokerCounter) {
          p.messageId = packet.messageId;
          return;
        }
      } else if (p.messageId === packet.messageId) {
        this.add(q, packetBytes(packet) - packetBytes(p));
        q.items[i] = packet;
        return;
      }
    }
    // The packet was dropped from a full queue after aedes took it for delivery. Throwing here
    // would make aedes disconnect the subscriber; deliver it untracked instead (a later PUBACK
    // finds nothing to clear, which is harmless).
  }

  clearMessageId(clientId: string, messageId: number | undefined): QueuedPacket | undefined {
    const q = this.queues.get(clientId);
    if (!q) return undefined;
    const i = q.items.findIndex((p) => p.messageId === messageId);
    if (i < 0) return undefined;
    const [p] = q.items.splice(i, 1);
    this.add(q, -packetBytes(p!));
    if (q.items.length === 0) this.remove(clientId);
    return p;
  }

  /** What to send a reconnecting client; QoS 0 entries (broker.queue_qos0) get no PUBACK, so they leave the queue now. */
  take(clientId: string): QueuedPacket[] {
    const q = this.queues.get(clientId);
    const items = [...(q?.items ?? [])];
    if (q && items.some((p) => p.qos === 0)) {
      q.items = q.items.filter((p) => p.qos !== 0);
      let bytes = 0;
      for (const p of q.items) bytes += packetBytes(p);
      this.add(q, bytes - q.bytes);
      if (!q.items.length) this.remove(clientId);
    }
    return items;
  }

  /** One client's queue: waiting, and sent awaiting PUBACK/PUBREC/PUBCOMP (a message id assigned). */
  queueOf(clientId: string): { queued: number; inflight: number } {
    let inflight = 0;
    const items = this.queues.get(clientId)?.items ?? [];
    for (const p of items) if (p.messageId !== undefined) inflight++;
    return { queued: items.length - inflight, inflight };
  }

  count(): number {
    let n = 0;
    for (const q of this.queues.values()) n += q.items.length;
    return n;
  }
}

/** aedes-persistence's memory store with the outgoing queues replaced by SessionQueues. */
export class BoundedPersistence extends MemoryPersistence implements ShareStore {
  protected readonly bounded: SessionQueues;
  /** Which queued messages a member got through a shared subscription group (shared-tags.ts). */
  readonly shareTags = new ShareTags();
  /**
   * Connections (aedes Clients) whose queue has been taken to be sent (outgoingStream, once per
   * connect), with the items taken by their payload (which a message's live packet shares).
   */
  private readonly taken = new WeakMap<object, WeakMap<object, QueuedPacket[]>>();
  /** Live deliveries not written because the connection's queue sends them (sendsWithQueue). */
  private readonly held = new WeakSet<object>();
  /** No retained copy after a newer live message on its topic (retained-order.ts). */
  readonly retainedOrder = new RetainedOrder();

  constructor(opts: SessionQueueOptions) {
    super();
    this.bounded = new SessionQueues(opts);
  }

  async setup(broker: unknown): Promise<void> {
    const b = broker as Partial<EventEmitter> | undefined;
    if (typeof b?.on === 'function') b.on('subscribe', this.retainedOrder.subscribed); // aedes (store tests pass a stand-in)
    await super.setup(broker);
  }

  createRetainedStreamCombi(patterns: string[]): Readable {
    return this.retainedOrder.stream(patterns, super.createRetainedStreamCombi(patterns));
  }

  get totalBytes(): number {
    return this.bounded.totalBytes;
  }

  /** aedes hands over every filter of a SUBSCRIBE, refused ones too (subscription-bound.ts): only granted ones are kept. */
  async addSubscriptions(client: { id: string }, subs: { topic: string }[]): Promise<void> {
    const granted = grantedOnly(subs);
    if (granted.length) await super.addSubscriptions(client, granted);
  }

  async outgoingEnqueue(sub: { clientId: string }, packet: QueuedPacket): Promise<void> {
    const group = this.shareTags.claim(sub.clientId);
    const item = this.bounded.enqueue(sub.clientId, packet);
    if (item && group !== undefined) this.shareTags.tag(item, sub.clientId, group);
  }

  async outgoingEnqueueCombi(subs: { clientId: string }[], packet: QueuedPacket): Promise<void> {
    for (const s of subs) this.bounded.enqueue(s.clientId, packet);
  }

  async outgoingUpdate(client: { id: string }, packet: QueuedPacket): Promise<void> {
    this.bounded.update(client.id, packet);
  }

  async outgoingClearMessageId(client: { id: string }, packet: { messageId?: number; retain?: boolean; brokerId?: string | null; brokerCounter?: number }): Promise<QueuedPacket | undefined> {
    // aedes calls this with a delivery authorizeForward refused (no message id yet), to drop its
    // queued copy: it would take the first unsent message instead. A retained copy for a new
    // subscription was never queued, and a held one (sendsWithQueue) goes out with the queue.
    if (packet.messageId !== undefined) return this.bounded.clearMessageId(client.id, packet.messageId);
    if (isRetainedCopy(packet) || this.held.has(packet) || !packet.brokerId) return undefined;
    // Any other refusal (the ACL at delivery, aedes's de-duplication of overlapping subscriptions):
    // drop the refused message's own queued copy, found by its identity, never another one.
    const p = this.bounded.queues.get(client.id)?.items.find((q) => q.messageId === undefined && q.brokerId === packet.brokerId && q.brokerCounter === packet.brokerCounter);
    if (!p) return undefined;
    this.bounded.removeItems(client.id, new Set([p]));
    return p;
  }

  outgoingStream(client: { id: string }): Readable {
    const items = this.bounded.take(client.id);
    const byPayload = new WeakMap<object, QueuedPacket[]>();
    for (const p of items) {
      if (typeof p.payload !== 'object') continue;
      const same = byPayload.get(p.payload);
      if (same) same.push(p);
      else byPayload.set(p.payload, [p]);
    }
    this.taken.set(client, byPayload);
    return Readable.from(items);
  }

  /** Whether aedes has taken this connection's queue to send it: what is queued from now on is not in it. */
  queueSent(client: object): boolean {
    return this.taken.has(client);
  }

  /**
   * authorizeForward, for a live QoS 1/2 delivery to a persistent session's connection: true when
   * its queued copy goes out with the queue this connection sends at connect, so writing it now too
   * would send it twice on one connection. aedes restores the session's subscriptions, stores the
   * will and sends CONNACK before it takes the queue; a message published meanwhile is queued and
   * delivered live. With broker.persistence disk it can also be queued before the take (before
   * its PUBACK) and delivered after it. Either way the queue's copy is the one sent.
   */
  sendsWithQueue(client: { id: string; clean?: boolean }, packet: { qos?: number; messageId?: number; brokerId?: string | null; brokerCounter?: number; payload?: unknown }): boolean {
    // A message id: the queue's own copy (aedes's emptyQueue), or a QoS 0 delivery (never queued by aedes).
    if (client.clean !== false || !packet.qos || packet.messageId !== undefined || !packet.brokerId) return false;
    const taken = this.taken.get(client);
    if (taken) {
      // Taken already: only a copy among those taken (maybe sent and acknowledged by now; the
      // disk store re-keys a copy queued before the PUBACK to the message's identity) is the queue's.
      const same = typeof packet.payload === 'object' && packet.payload !== null ? taken.get(packet.payload) : undefined;
      if (!same?.some((p) => p.brokerId === packet.brokerId && p.brokerCounter === packet.brokerCounter)) return false;
    } else if (!this.bounded.find(client.id, packet.brokerId, packet.brokerCounter)) return false; // not queued (a bound refused it): sent live
    this.held.add(packet);
    return true;
  }

  /** authorizeForward's ordering checks: false when aedes must not write this PUBLISH to the connection now. */
  mayWrite(client: { id: string; clean?: boolean }, packet: { topic: string; qos?: number; retain?: boolean; messageId?: number; brokerId?: string | null; brokerCounter?: number; payload?: unknown }): boolean {
    return this.retainedOrder.forward(client, packet) && !this.sendsWithQueue(client, packet);
  }

  // A clean session discards its queue along with its subscriptions [MQTT-3.1.2-6]; so does an
  // expired one.
  async cleanSubscriptions(client: { id: string }): Promise<void> {
    if (!this.shareTags.muted) this.shareTags.sessionEnds?.(client.id); // its shared messages go to other members first
    this.bounded.remove(client.id);
    await super.cleanSubscriptions(client);
  }

  queueOf(clientId: string): { queued: number; inflight: number } {
    return this.bounded.queueOf(clientId);
  }

  takeShared(clientId: string, to: (h: HandOff) => boolean): HandOff[] {
    if (!this.shareTags.has(clientId)) return [];
    const taken = this.shareTags.movable(clientId, this.bounded.queues.get(clientId)?.items).filter(to);
    this.bounded.removeItems(clientId, new Set(taken.map((h) => h.packet)));
    return taken;
  }

  movableShared(clientId: string): number {
    return this.shareTags.has(clientId) ? this.shareTags.movable(clientId, this.bounded.queues.get(clientId)?.items).length : 0;
  }

  /** Shared-subscription messages in persistent sessions' queues. */
  sharedQueued(): number {
    return this.shareTags.count((c) => this.bounded.queues.get(c)?.items);
  }

  queuedTotal(): number {
    return this.bounded.count();
  }
}

export function createBoundedPersistence(opts: SessionQueueOptions): BoundedPersistence {
  return new BoundedPersistence(opts);
}
