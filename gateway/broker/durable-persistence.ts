import { mkdirSync } from 'node:fs';
import { PublishRejected } from '../core/message.ts';
import type { Logger } from '../log/logger.ts';
import type { FrameRecord } from './durable-frames.ts';
import { Journal, dropJournalsBelow, writeSnapshot } from './durable-journal.ts';
import { K, PRE_ID, frame, packetFrame, type StoredPacket, type SubRecord } from './durable-records.ts';
import { SharedPreQueue, type SharedPrePick } from './durable-shared-pre.ts';
import { recoverStore, type StoreState } from './durable-recovery.ts';
import { WillStore, type WillIngress, type WillPacket } from './durable-wills.ts';
import { RetainedBound, clearOf } from './retained-bound.ts';
import { grantedOnly } from './subscription-bound.ts';
import { BoundedPersistence, type SessionQueueOptions } from './session-queue.ts';
import type { HandOff } from './shared-tags.ts';

// broker.persistence: disk. The bounded in-memory store (session-queue.ts) with every change of a
// persistent session (subscriptions, queued messages, QoS 2 state) and every retained message also
// appended to a journal in <data_dir>/broker, replayed at start before any listener opens.
//
// When a change must be on disk before aedes acknowledges something (a queued QoS 1/2 message, a
// retained QoS 1/2 message, an inbound QoS 2 message, a subscription), the call resolves only
// after the fsync; many such calls share one fsync (group commit). aedes 1.2 writes a QoS 1 PUBACK
// *before* it publishes the message, so for MQTT QoS 1 publishes `beforeAck` (called from
// authorizePublish, which the PUBACK waits for) queues the message for the persistent subscribers
// and stores it if retained ahead of aedes; aedes's own calls for that message then find it done.
// Shared subscriptions deliver after aedes publishes (shared.ts), so beforeAck has the member of
// each group picked then and queues the message for a persistent one like for a subscriber; the
// delivery to that member (Client.publish, outgoingEnqueue) adopts that copy (durable-shared-pre.ts).
//
// On a write error (disk full) the store logs one line and refuses what it could not keep (the
// publisher gets no PUBACK and retries) while serving everything else from memory; every 5 s it
// tries to write the whole state as a snapshot, and resumes journaling once one lands.

const RETRY_MS = 5000;
/** A journal beyond this and twice the last snapshot is compacted into a new snapshot. */
const COMPACT_MIN = 8 * 1024 * 1024;

interface ClientRef {
  id: string;
  clean?: boolean;
}

interface PreAck {
  topic: string;
  n: number;
  clients: Set<string>;
  items: StoredPacket[];
}

export interface DurableOptions extends SessionQueueOptions {
  dir: string;
  log: Pick<Logger, 'info' | 'warn' | 'error'>;
  lazyMs?: number;
  /** Tests: a smaller compaction threshold and a quicker retry after a failed write. */
  compactMin?: number;
  retryMs?: number;
  /** broker.max_retained_messages / max_retained_bytes (none: unbounded). */
  retained?: RetainedBound;
  /** Tests: called at each step of a compaction (to copy the directory as a crash there would leave it). */
  onStep?: (step: string) => void | Promise<void>;
}

export class DurablePersistence extends BoundedPersistence {
  private readonly st: StoreState = { subs: new Map(), retained: new Map(), incoming: new Map() };
  private journal!: Journal;
  private failed?: Error;
  private retry?: NodeJS.Timeout;
  private compacting = false;
  private snapshotBytes = 0;
  private preCounter = 0;
  /** Keyed by the publish's payload Buffer, which aedes's packet copy shares. */
  private readonly preQueued = new WeakMap<object, PreAck>();
  private readonly preRetained = new WeakMap<object, string>();
  private readonly preShared = new SharedPreQueue({ next: () => ++this.preCounter, enqueue: (c, p) => this.enqueueOne(c, p), append: (r) => this.journal.append(r), tags: this.shareTags });
  /** Set by the broker once its shared subscriptions exist. */
  sharedPick?: SharedPrePick;
  /** Client ids with state at the last start (for the broker's session table). */
  restoredSessions: { clientId: string; subs: { topic: string; qos: number }[] }[] = [];
  readonly wills = new WillStore(() => this.journal);
  readonly retainedBound: RetainedBound;

  constructor(private readonly dopts: DurableOptions) {
    super(dopts);
    this.retainedBound = dopts.retained ?? new RetainedBound({ maxMessages: Infinity, maxBytes: Infinity, log: dopts.log });
  }

  override async setup(broker: unknown): Promise<void> {
    mkdirSync(this.dopts.dir, { recursive: true });
    const r = recoverStore(this.dopts.dir, this, this.st, this.bounded, this.dopts.log);
    this.snapshotBytes = r.snapshotBytes;
    this.restoredSessions = r.sessions;
    this.journal = new Journal(this.dopts.dir, r.gen, { onError: (err) => this.fail(err), afterWrite: () => this.maybeCompact() }, this.dopts.lazyMs, r.seq);
    if (r.error) this.fail(r.error);
    this.wills.broker = broker as { id?: string; closed?: boolean };
    await super.setup(broker);
  }

  /**
   * The whole state as records, the first saying which journals and journal records it holds.
   * Taken now (lists of references: no record is encoded here), encoded as the snapshot is
   * written. A queued message changed meanwhile (given its packet id) may be written with the
   * change; its journal record, after the snapshot's sequence number, then sets the same again.
   */
  capture(covers: number, seq = this.journal.seq): Iterable<FrameRecord> {
    const head = frame(K.HEAD, { v: 2, covers, seq });
    const subs = [...this.st.subs].map(([c, m]) => frame(K.SUB_ADD, { c, subs: [...m].map(([topic, sub]) => ({ topic, ...sub })) }));
    const queues = [...this.bounded.queues].map(([c, q]) => [c, q.items.slice()] as const);
    const retained = [...this.st.retained.values()];
    const incoming = [...this.st.incoming].map(([c, m]) => [c, [...m.values()]] as const);
    const wills = this.wills.records();
    const tags = this.shareTags;
    return (function* () {
      yield head;
      yield* subs;
      for (const [c, items] of queues) {
        for (const p of items) {
          const g = tags.groupOf(p);
          yield packetFrame(K.ENQ, g === undefined ? { cs: [c] } : { cs: [c], g }, p);
        }
      }
      for (const p of retained) yield packetFrame(K.RETAIN, {}, p);
      for (const [c, ps] of incoming) for (const p of ps) yield packetFrame(K.IN_STORE, { c }, p);
      yield* wills;
    })();
  }

  private fail(err: Error): void {
    if (this.failed) return;
    this.failed = err;
    this.journal.halt(err);
    this.dopts.log.error(
      { dir: this.dopts.dir, err: err.message, code: (err as NodeJS.ErrnoException).code },
      `broker persistence: cannot write ${this.dopts.dir} (${(err as NodeJS.ErrnoException).code ?? err.message}: disk full or read-only?); QoS 1/2 messages for persistent sessions and retained QoS 1/2 messages are refused (no PUBACK, the publisher retries) until it can write again; nothing acknowledged is lost`,
    );
    this.retry = setInterval(() => void this.recover(), this.dopts.retryMs ?? RETRY_MS);
    this.retry.unref();
  }

  private async recover(): Promise<void> {
    if (this.compacting) return;
    this.compacting = true;
    const gen = this.journal.gen + 1;
    // Changes made while the snapshot is written are journaled after it (held until it lands).
    const records = this.capture(gen);
    this.journal.restart(gen);
    try {
      this.snapshotBytes = await writeSnapshot(this.dopts.dir, records);
      dropJournalsBelow(this.dopts.dir, gen);
      this.failed = undefined;
      this.journal.release();
      clearInterval(this.retry);
      this.dopts.log.info({ dir: this.dopts.dir, bytes: this.snapshotBytes }, `broker persistence: writing to ${this.dopts.dir} again (state saved as a snapshot)`);
    } catch (err) {
      this.journal.halt(err as Error); // still full: the next attempt in RETRY_MS
    } finally {
      this.compacting = false;
    }
  }

  private maybeCompact(): void {
    if (this.compacting || this.failed || this.journal.size < Math.max(this.dopts.compactMin ?? COMPACT_MIN, 2 * this.snapshotBytes)) return;
    this.compacting = true;
    const step = this.dopts.onStep;
    const gen = this.journal.rotate();
    const records = this.capture(gen);
    void step?.('rotated');
    writeSnapshot(this.dopts.dir, records, step).then(
      (bytes) => {
        this.snapshotBytes = bytes;
        dropJournalsBelow(this.dopts.dir, gen);
        void step?.('journals-dropped');
        this.compacting = false;
      },
      (err: Error) => {
        this.compacting = false;
        this.fail(err);
      },
    );
  }

  private refuse(what: string): never {
    throw new PublishRejected('unavailable', `broker persistence cannot write ${this.dopts.dir} (${this.failed?.message}): ${what} refused`);
  }

  private durable(qos: number | undefined): Promise<void> {
    return (qos ?? 0) > 0 ? this.journal.commit() : Promise.resolve();
  }

  // ---- retained messages ----

  private keepRetained(p: StoredPacket): boolean {
    return typeof p.topic === 'string' && !p.topic.startsWith('$SYS/');
  }

  /** False when the retained store is full (broker.max_retained_messages / bytes): delivered, not retained (a superseded old value is cleared). */
  private doRetain(packet: StoredPacket): boolean {
    const verdict = this.retainedBound.admit(packet);
    if (verdict === 'refuse') return false;
    const p = verdict === 'keep' ? packet : clearOf(packet); // superseded: the old value goes too
    void super.storeRetained(p);
    if (!this.keepRetained(p)) return true;
    const payload = p.payload ?? Buffer.alloc(0);
    if (payload.length === 0) this.st.retained.delete(p.topic!);
    else this.st.retained.set(p.topic!, { topic: p.topic, payload, qos: p.qos, retain: true, ...(p.properties !== undefined && { properties: p.properties }) });
    this.journal.append(packetFrame(K.RETAIN, {}, p));
    return true;
  }

  async storeRetained(p: StoredPacket): Promise<void> {
    if (p.payload && typeof p.payload === 'object' && this.preRetained.get(p.payload) === p.topic) {
      this.preRetained.delete(p.payload);
      return;
    }
    if (this.failed && this.keepRetained(p) && (p.qos ?? 0) > 0) this.refuse('retained message');
    if (this.doRetain(p) && this.keepRetained(p)) await this.durable(p.qos);
  }

  // ---- subscriptions ----

  override async addSubscriptions(client: ClientRef, all: ({ topic: string } & SubRecord)[]): Promise<void> {
    const subs = grantedOnly(all); // aedes hands over the whole SUBSCRIBE, refused filters too
    if (!subs.length) return;
    applySubAdd(this.st, client.id, subs);
    const done = super.addSubscriptions(client, subs);
    this.journal.append(frame(K.SUB_ADD, { c: client.id, subs }));
    await done;
    await this.journal.commit().catch(() => {}); // on a full disk the subscription is kept in memory, saved with the next snapshot
  }

  async removeSubscriptions(client: ClientRef, topics: string[]): Promise<void> {
    applySubDel(this.st, client.id, topics);
    const done = super.removeSubscriptions(client, topics);
    this.journal.append(frame(K.SUB_DEL, { c: client.id, topics }));
    await done;
  }

  override async cleanSubscriptions(client: ClientRef): Promise<void> {
    const had = this.st.subs.delete(client.id) || this.bounded.queues.has(client.id);
    const done = super.cleanSubscriptions(client);
    if (had) this.journal.append(frame(K.CLEAN, { c: client.id }));
    await done;
  }

  // ---- outgoing queues ----

  /**
   * An MQTT QoS 1 publish, before its PUBACK: queued for the persistent subscribers and stored if
   * retained, on disk when this resolves. Resolves at once when there is nothing to keep.
   */
  async beforeAck(packet: StoredPacket & { payload: Buffer }, publisher?: string): Promise<void> {
    if (packet.qos !== 1 || !packet.topic) return;
    let subs = (await this.subscriptionsByTopic(packet.topic)) as { clientId: string }[];
    if (packet.topic.startsWith('$SYS/')) subs = [];
    const members = packet.topic.startsWith('$SYS/') ? [] : (this.sharedPick?.({ topic: packet.topic, payload: packet.payload, qos: 1, clientId: publisher }) ?? []);
    const retain = packet.retain === true;
    if (!subs.length && !retain && !members.length) return;
    if (this.failed) this.refuse('QoS 1 message for persistent sessions');
    if (members.length) this.preShared.queue(packet, members);
    if (retain) {
      this.doRetain(packet);
      this.preRetained.set(packet.payload, packet.topic);
    }
    if (subs.length) {
      const pre: PreAck = { topic: packet.topic, n: ++this.preCounter, clients: new Set(), items: [] };
      const copy = { ...packet, brokerId: PRE_ID, brokerCounter: pre.n };
      for (const s of subs) {
        const item = this.enqueueOne(s.clientId, copy);
        pre.clients.add(s.clientId);
        if (item) pre.items.push(item);
      }
      this.journal.append(packetFrame(K.ENQ, { cs: [...pre.clients] }, copy));
      this.preQueued.set(packet.payload, pre);
    }
    await this.journal.commit();
  }

  /** Enqueues through the bounds; returns the queued packet object (undefined when it was dropped). */
  enqueueOne(clientId: string, p: StoredPacket): StoredPacket | undefined {
    return this.bounded.enqueue(clientId, p as never);
  }

  private adopt(subs: { clientId: string }[], p: StoredPacket): { clientId: string }[] {
    const key = p.payload;
    const pre = key && typeof key === 'object' ? this.preQueued.get(key) : undefined;
    if (!pre || pre.topic !== p.topic) return subs;
    this.preQueued.delete(key as object);
    for (const item of pre.items) {
      item.brokerId = p.brokerId;
      item.brokerCounter = p.brokerCounter;
    }
    this.journal.append(frame(K.ADOPT, { n: pre.n, b: p.brokerId, k: p.brokerCounter }));
    return subs.filter((s) => !pre.clients.has(s.clientId));
  }

  override async outgoingEnqueueCombi(subs: { clientId: string }[], packet: StoredPacket, group?: string): Promise<void> {
    const rest = this.adopt(subs, packet);
    if (!rest.length) return;
    if (this.failed && (packet.qos ?? 0) > 0) this.refuse('QoS 1/2 message for persistent sessions');
    for (const s of rest) {
      const item = this.bounded.enqueue(s.clientId, packet as never);
      if (item && group !== undefined) this.shareTags.tag(item, s.clientId, group);
    }
    this.journal.append(packetFrame(K.ENQ, { cs: rest.map((s) => s.clientId), ...(group !== undefined && { g: group }) }, packet));
    await this.durable(packet.qos);
  }

  override async outgoingEnqueue(sub: { clientId: string }, packet: StoredPacket): Promise<void> {
    // aedes calls this for one client from Client.publish (shared deliveries), the Combi form when it publishes.
    const group = this.shareTags.claim(sub.clientId);
    if (this.preShared.adopt(sub.clientId, packet)) return; // queued (and tagged) before the PUBACK
    await this.outgoingEnqueueCombi([sub], packet, group);
  }

  /**
   * Shared messages handed from a member's queue to other members: their deliveries' ENQ records
   * (for a persistent member) are appended first, then this take, in the same batch, written at
   * once. Nothing moves while the store cannot write.
   */
  override takeShared(clientId: string, to: (h: HandOff) => boolean): HandOff[] {
    if (this.failed) return [];
    const taken = super.takeShared(clientId, to);
    if (!taken.length) return taken;
    this.journal.append(frame(K.SHARE_TAKE, { c: clientId, ids: taken.map((h) => [h.packet.brokerId, h.packet.brokerCounter]) }));
    this.journal.commit().catch(() => {});
    return taken;
  }

  override async outgoingUpdate(client: ClientRef, packet: StoredPacket): Promise<void> {
    await super.outgoingUpdate(client, packet as never);
    this.journal.append(packetFrame(K.UPD, { c: client.id }, { ...packet, payload: undefined }));
    // A QoS 2 message must go out under the packet id the disk knows, or a restart resends it
    // under another one and the receiver delivers it twice. Likewise its PUBREL (aedes sends it
    // once this resolves): a receiver that got PUBREL may forget the id, so a restart that had
    // lost the PUBREL record would resend the PUBLISH and the receiver deliver it again.
    if ((packet.cmd === 'publish' && packet.qos === 2) || packet.cmd === 'pubrel') await this.journal.commit().catch(() => {});
  }

  override async outgoingClearMessageId(client: ClientRef, packet: { messageId?: number; retain?: boolean; brokerId?: string | null; brokerCounter?: number }): Promise<StoredPacket | undefined> {
    const p = await super.outgoingClearMessageId(client, packet);
    if (!p) return p;
    // A refused delivery's copy (no message id) is removed by its identity: SHARE_TAKE is the
    // journal's removal by [brokerId, brokerCounter]; a CLR without an id would replay as another.
    if (packet.messageId === undefined) this.journal.append(frame(K.SHARE_TAKE, { c: client.id, ids: [[p.brokerId, p.brokerCounter]] }));
    else this.journal.append(frame(K.CLR, { c: client.id, mid: packet.messageId }));
    return p;
  }

  override outgoingStream(client: ClientRef) {
    if (this.bounded.queues.get(client.id)?.items.some((p) => p.qos === 0)) this.journal.append(frame(K.TAKE0, { c: client.id }));
    return super.outgoingStream(client);
  }

  // ---- inbound QoS 2 of persistent sessions ----

  async incomingStorePacket(client: ClientRef, packet: StoredPacket & { messageId: number }): Promise<void> {
    if (client.clean !== false) return super.incomingStorePacket(client, packet);
    if (this.failed) this.refuse('QoS 2 message');
    await super.incomingStorePacket(client, packet);
    applyInStore(this.st, client.id, packet);
    this.journal.append(packetFrame(K.IN_STORE, { c: client.id }, packet));
    try {
      await this.journal.commit();
    } catch (err) {
      // aedes takes a stored QoS 2 message for a duplicate and would never publish the retry.
      this.st.incoming.get(client.id)?.delete(packet.messageId);
      await super.incomingDelPacket(client, packet).catch(() => {});
      throw err;
    }
  }

  async incomingDelPacket(client: ClientRef, packet: { messageId: number }): Promise<void> {
    await super.incomingDelPacket(client, packet);
    if (this.st.incoming.get(client.id)?.delete(packet.messageId)) this.journal.append(frame(K.IN_DEL, { c: client.id, mid: packet.messageId }));
  }

  async cleanIncoming(client: ClientRef): Promise<void> {
    await super.cleanIncoming(client);
    if (this.st.incoming.delete(client.id)) this.journal.append(frame(K.IN_CLEAN, { c: client.id }));
  }

  // ---- wills (durable-wills.ts) ----

  async putWill(client: ClientRef, packet: WillPacket): Promise<void> {
    await this.wills.put(client, packet);
  }

  async getWill(client: ClientRef): Promise<WillPacket | undefined> {
    return this.wills.get(client);
  }

  async delWill(client: ClientRef): Promise<WillPacket | undefined> {
    return this.wills.del(client);
  }

  streamWill(brokers?: Record<string, unknown>) {
    return this.wills.stream(brokers);
  }

  /** Once the bridge is up: the wills of the last run's connections, through `via` (durable-wills.ts). */
  publishRestoredWills(via: WillIngress): Promise<number> {
    return this.wills.publishRestored(via, this.dopts.log);
  }

  async close(): Promise<void> {
    clearInterval(this.retry);
    await this.journal?.close();
  }

  async destroy(): Promise<void> {
    await this.close();
    await super.destroy();
  }
}

/** The hooks' beforeAck for this persistence (none when sessions live in memory). */
export function durableAck(p: BoundedPersistence): ((packet: StoredPacket & { payload: Buffer }, publisher?: string) => Promise<void>) | undefined {
  return p instanceof DurablePersistence ? (packet, publisher) => p.beforeAck(packet, publisher) : undefined;
}

export function applySubAdd(st: StoreState, c: string, subs: ({ topic: string } & SubRecord)[]): void {
  let m = st.subs.get(c);
  if (!m) st.subs.set(c, (m = new Map()));
  for (const { topic, ...rec } of subs) m.set(topic, rec);
}

export function applySubDel(st: StoreState, c: string, topics: string[]): void {
  const m = st.subs.get(c);
  if (!m) return;
  for (const t of topics) m.delete(t);
  if (!m.size) st.subs.delete(c);
}

export function applyInStore(st: StoreState, c: string, p: StoredPacket & { messageId: number }): void {
  let m = st.incoming.get(c);
  if (!m) st.incoming.set(c, (m = new Map()));
  m.set(p.messageId, p);
}
