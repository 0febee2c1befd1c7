import { createHash } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { Aedes, AedesPublishPacket, Client } from 'aedes';
import { topicMatches } from '../core/topic.ts';
import type { PrePicked } from './durable-shared-pre.ts';
import { InFlight, type FlightEntry, type SharedMessage } from './shared-flight.ts';
import type { HandOff, ShareStore } from './shared-tags.ts';

// Shared subscriptions ($share/{group}/{filter}, EMQX's $queue/{filter}) built at the broker's seam:
// aedes 1.2 has none. The member's own SUBSCRIBE is granted as a literal subscription that no
// published topic can match (the broker refuses publishes to $share/ and $queue/), and each group
// gets one in-process aedes subscription to its filter; every message it receives goes to one
// member, picked by the strategy, through aedes's public Client.publish (which runs the ACL check
// at delivery and the QoS handling). Retained messages are never sent to shared subscribers: an
// in-process subscription does not receive them on subscribe. Messages a member has not
// acknowledged when its session ends go to another member, as EMQX re-dispatches them: a clean
// session's in-flight ones, tracked off its connection (shared-flight.ts), when it disconnects; a
// persistent session's, tagged with their group in its queue (shared-tags.ts, on disk with
// broker.persistence disk, so across a restart), when it expires or a clean-session connect
// replaces it, or once it has been offline for broker.shared_redispatch_after.
//
// With broker.persistence disk a QoS 1 message must be on disk for a persistent member before the
// publisher's PUBACK, which aedes writes before it publishes: `prepick` (called from the store's
// beforeAck) picks each matching group's member then, and the delivery after the PUBACK goes to
// that same member (the strategy advances once per message).

/** brokerId of a copy queued without being sent (queueOffline, or for a member whose queue is yet to be sent). */
const HANDOFF_ID = 'fieldgate:handoff';

export type ShareStrategy = 'random' | 'round_robin' | 'sticky' | 'hash_clientid';

export interface ShareTopic {
  group: string;
  filter: string;
}

/** `$share/{group}/{filter}` or `$queue/{filter}` (group "$queue"); undefined for any other filter. */
export function parseShare(topic: string): ShareTopic | undefined {
  if (topic.startsWith('$queue/')) {
    const filter = topic.slice(7);
    return filter ? { group: '$queue', filter } : undefined;
  }
  if (!topic.startsWith('$share/')) return undefined;
  const rest = topic.slice(7);
  const slash = rest.indexOf('/');
  if (slash <= 0 || slash === rest.length - 1) return undefined;
  const group = rest.slice(0, slash);
  if (/[+#]/.test(group)) return undefined;
  return { group, filter: rest.slice(slash + 1) };
}

export function isShareTopic(topic: string): boolean {
  return topic.startsWith('$share/') || topic.startsWith('$queue/');
}

interface Member {
  client: Client;
  qos: number;
}

interface Group {
  key: string;
  members: Member[];
  next: number;
  sticky?: Member;
  filter: string;
  deliver: (packet: AedesPublishPacket, done: () => void) => void;
}

/** A member picked before the PUBACK; `durable`: its copy is in its queue on disk. */
interface PrePick {
  clientId: string;
  durable: boolean;
  /** The member's connection then, and whether aedes had taken its queue to send it: if not, the copy goes out with the queue. */
  client: Client;
  queueSent: boolean;
}

interface Counter {
  inc(n?: number): void;
}

export interface SharedOptions {
  /** In-flight messages tracked per member for redelivery (broker.max_queued_messages). */
  maxInFlight: number;
  /** Messages handed to another member after their member's session ended. */
  redispatched: Counter;
  /** Messages whose member's session ended and no other member was connected (or tracking overflowed). */
  dropped: Counter;
  /** The session store, where persistent members' shared messages are tagged with their group. */
  store?: ShareStore;
  /** broker.shared_redispatch_after (ms): a persistent member offline this long hands its shared messages on; 0: only when its session ends. */
  redispatchAfter?: number;
  /** Whether a persistent session's client is connecting (aedes sends its queue before it is ready). */
  connecting?: (clientId: string) => boolean;
}

export class SharedSubscriptions {
  private readonly groups = new Map<string, Group>();
  /** Shared subscriptions of persistent sessions (topic -> QoS): joined again when they reconnect. */
  private readonly sessions = new Map<string, Map<string, number>>();

  private readonly flight: InFlight;
  /** Members picked before the PUBACK, per group key, keyed by the message's payload Buffer (which aedes's packet copies share). */
  private readonly prePicked = new WeakMap<object, Map<string, PrePick>>();
  /** Shared subscriptions of persistent sessions restored from disk, until they reconnect: members to hand messages to while offline. */
  private readonly restoredShares = new Map<string, Map<string, number>>();
  /** brokerCounter of the copies queued for offline members (their brokerId: HANDOFF_ID). */
  private handoffs = 0;
  /** Persistent sessions offline since (ms), watched for broker.shared_redispatch_after; at most one per session. */
  private readonly offline = new Map<string, number>();
  private timer?: NodeJS.Timeout;

  constructor(private readonly aedes: Aedes, private readonly strategy: ShareStrategy, private readonly opts: SharedOptions) {
    this.flight = new InFlight(opts.maxInFlight, () => opts.dropped.inc());
    if (opts.store) opts.store.shareTags.sessionEnds = (clientId) => this.handOff(clientId, false);
    const after = opts.redispatchAfter ?? 0;
    if (after > 0 && opts.store) {
      this.timer = setInterval(() => this.handOffOffline(after), Math.max(50, Math.min(after / 2, 60_000)));
      this.timer.unref();
    }
  }

  close(): void {
    clearInterval(this.timer);
  }

  /** A persistent session restored at start: offline from now (its shared messages wait for it, up to the bound). */
  restored(clientId: string, subs: { topic: string; qos: number }[]): void {
    const shares = subs.filter((s) => s.qos > 0 && parseShare(s.topic));
    if (shares.length) this.restoredShares.set(clientId, new Map(shares.map((s) => [s.topic, s.qos])));
    if (this.timer && this.opts.store?.shareTags.has(clientId)) this.offline.set(clientId, Date.now());
  }

  get count(): number {
    let n = 0;
    for (const g of this.groups.values()) n += g.members.length;
    return n;
  }

  /** Shared messages a member has not acknowledged: in flight to clean members, queued for persistent ones (sent or not). */
  get inFlight(): number {
    return this.flight.size + (this.opts.store?.sharedQueued() ?? 0);
  }

  join(client: Client, share: ShareTopic, qos: number): Promise<void> {
    const key = `${share.group}\u0000${share.filter}`;
    this.flight.watch(client.id, client.conn as unknown as Duplex);
    let g = this.groups.get(key);
    if (g) {
      const m = g.members.find((x) => x.client.id === client.id);
      if (m) {
        m.client = client;
        m.qos = qos;
      } else g.members.push({ client, qos });
      return Promise.resolve();
    }
    const group: Group = { key, filter: share.filter, members: [{ client, qos }], next: 0, deliver: (packet, done) => this.deliver(group, { topic: packet.topic, payload: packet.payload, qos: packet.qos, clientId: (packet as { clientId?: string }).clientId }, done) };
    this.groups.set(key, group);
    return new Promise((resolve) => this.aedes.subscribe(share.filter, group.deliver, resolve));
  }

  /** A member's SUBSCRIBE to `topic` (a $share/$queue filter already granted). */
  subscribe(client: Client, topic: string, share: ShareTopic, qos: number, persistent: boolean): Promise<void> {
    if (persistent) {
      let m = this.sessions.get(client.id);
      if (!m) this.sessions.set(client.id, (m = new Map()));
      m.set(topic, qos);
    }
    return this.join(client, share, qos);
  }

  /**
   * A client connected: a clean session forgets its shared subscriptions (what an earlier session
   * left in flight goes to other members), a persistent one rejoins.
   */
  connected(client: Client, clean: boolean): void {
    this.offline.delete(client.id);
    this.restoredShares.delete(client.id); // a persistent one subscribes again as aedes restores its session
    if (clean) {
      this.sessions.delete(client.id);
      this.redispatch(client.id);
    }
    for (const [topic, qos] of this.sessions.get(client.id) ?? []) {
      const share = parseShare(topic);
      if (share) void this.join(client, share, qos);
    }
  }

  unsubscribed(clientId: string, topic: string): void {
    const share = parseShare(topic);
    if (!share) return;
    this.leave(clientId, share);
    this.sessions.get(clientId)?.delete(topic);
  }

  /** A persistent session ended (expired): its unacknowledged messages go to other members. */
  forgetSession(clientId: string): void {
    this.sessions.delete(clientId);
    this.restoredShares.delete(clientId);
    this.offline.delete(clientId);
    this.redispatch(clientId);
  }

  /** The client's connection ended: it leaves its groups; a clean session's in-flight messages go to other members. */
  disconnected(clientId: string, clean: boolean): void {
    this.leave(clientId);
    if (clean) this.redispatch(clientId);
    else if (this.timer) this.offline.set(clientId, Date.now());
  }

  /** A PUBACK or PUBREC from a client (read by the broker off the connection). */
  acked(clientId: string, id: number): void {
    this.flight.acked(clientId, id);
  }

  leave(clientId: string, share?: ShareTopic): void {
    for (const [key, g] of this.groups) {
      if (share && key !== `${share.group}\u0000${share.filter}`) continue;
      g.members = g.members.filter((m) => m.client.id !== clientId);
      if (g.sticky?.client.id === clientId) g.sticky = undefined;
      if (!g.members.length) {
        this.groups.delete(key);
        this.aedes.unsubscribe(key.slice(key.indexOf('\u0000') + 1), g.deliver, () => {});
      }
    }
  }

  /** The strategy's member among the connected ones, never `exclude` (the member whose messages are being handed on). */
  private pick(g: Group, msg: SharedMessage, exclude?: string): Member | undefined {
    const live = g.members.filter((m) => !m.client.closed && m.client.id !== exclude);
    if (!live.length) return undefined;
    switch (this.strategy) {
      case 'random':
        return live[Math.floor(Math.random() * live.length)];
      case 'sticky':
        if (!g.sticky || g.sticky.client.closed || !live.includes(g.sticky)) g.sticky = live[Math.floor(Math.random() * live.length)];
        return g.sticky;
      case 'hash_clientid':
        return live[createHash('md5').update(msg.clientId ?? '').digest().readUInt32BE(0) % live.length];
      default:
        return live[g.next++ % live.length];
    }
  }

  /**
   * Before the PUBACK of a QoS 1 message (broker.persistence disk): picks the member of each group
   * whose filter matches, for the delivery to use. Returns the persistent members that get it at
   * QoS 1, whose copy the store must queue on disk now; a clean-session member's copy is not
   * durable under MQTT (its session ends with the connection or the process), so none is kept.
   */
  prepick(msg: SharedMessage): PrePicked[] {
    if (typeof msg.payload !== 'object') return [];
    const keep: PrePicked[] = [];
    const picks = new Map<string, PrePick>();
    for (const g of this.groups.values()) {
      if (!topicMatches(g.filter, msg.topic)) continue;
      const m = this.pick(g, msg);
      if (!m) continue;
      const durable = !m.client.clean && Math.min(msg.qos, m.qos) > 0;
      picks.set(g.key, { clientId: m.client.id, durable, client: m.client, queueSent: this.opts.store?.queueSent(m.client) ?? true });
      if (durable) keep.push({ clientId: m.client.id, group: g.key });
    }
    if (picks.size) this.prePicked.set(msg.payload, picks);
    return keep;
  }

  /** A message the group's aedes subscription received: to the member picked before the PUBACK, if any. */
  private deliver(g: Group, msg: SharedMessage, done: () => void): void {
    // aedes's in-process subscription to `#` or `+/...` also receives topics starting with $
    // ($SYS, a client's $dev/...); [MQTT-4.7.2-1] says such a filter does not match them, so no
    // member is picked (a pick would take a turn, and the member would get a message its filter excludes).
    if (!topicMatches(g.filter, msg.topic)) return done();
    const picks = typeof msg.payload === 'object' ? this.prePicked.get(msg.payload) : undefined;
    const pre = picks?.get(g.key);
    if (!pre) return void this.send(g, msg, done);
    picks!.delete(g.key);
    const m = g.members.find((x) => x.client.id === pre.clientId && !x.client.closed);
    // A copy queued while the member's connection had not had its queue sent is sent with that
    // queue (by that connection or, if it was replaced, by the next one): no live delivery too.
    if (m) return void this.send(g, msg, done, m, undefined, pre.durable && (m.client !== pre.client || !pre.queueSent));
    if (!pre.durable) return void this.send(g, msg, done); // a clean-session member left meanwhile: another one
    // A persistent member that left meanwhile has the message in its queue (on disk, tagged with
    // the group) and gets it when it reconnects, as if it had been in flight; if it does not come
    // back within the bound, another member does.
    done();
  }

  /**
   * Hands a message to one member (`to`, or the strategy's pick other than `exclude`); false when
   * the group has no connected member. A clean member's delivery is tracked off its connection
   * (shared-flight.ts); a persistent member's is queued by aedes first, tagged with the group.
   * `queued`: a copy for the member is already queued, to go out with its queue.
   */
  private send(g: Group, msg: SharedMessage, done: () => void, to?: Member, exclude?: string, queued = false): boolean {
    const m = to ?? this.pick(g, msg, exclude);
    if (!m) {
      done();
      return false;
    }
    const qos = Math.min(msg.qos, m.qos) as 0 | 1 | 2;
    const store = this.opts.store;
    if (qos > 0 && !m.client.clean && store && (queued || !store.queueSent(m.client))) {
      // A persistent member is a member again as soon as aedes restores its subscriptions on
      // connect, before it takes the session's queue to send it: a message queued before that
      // take goes out with the queue, so Client.publish (which queues and also writes it at once)
      // would send it twice. It is queued only, and sent with the queue.
      this.enqueue(m.client.id, g.key, msg, qos).then(done, done);
      return true;
    }
    const entry: FlightEntry | undefined = qos > 0 && m.client.clean ? { group: g.key, msg: { ...msg, qos } } : undefined;
    const id = m.client.id;
    if (entry) this.flight.sent(id, entry);
    const publish = () =>
      m.client.publish({ cmd: 'publish', topic: msg.topic, payload: msg.payload, qos, retain: false, dup: false }, () => {
        if (entry) this.flight.settled(id, entry, m.client.connected);
        done();
      });
    if (qos > 0 && !m.client.clean && this.opts.store) this.opts.store.shareTags.during(id, g.key, publish);
    else publish();
    return true;
  }

  /** A clean member's session ended: what it had not acknowledged goes to another member (not a QoS 2 message it was sent: [MQTT-4.8.2-5]). */
  private redispatch(clientId: string): void {
    for (const e of this.flight.take(clientId)) {
      const g = this.groups.get(e.group);
      if (e.msg.qos === 2 && e.id !== undefined) this.opts.dropped.inc();
      else if ((g && this.send(g, e.msg, () => {}, undefined, clientId)) || this.queueOffline(e.group, e.msg, clientId)) this.opts.redispatched.inc();
      else this.opts.dropped.inc();
    }
  }

  /**
   * A persistent member's shared messages leave its queue for other members: when its session
   * ends (`keep` false: with no member connected they go to an offline persistent member's queue,
   * or with none are dropped and counted), or after broker.shared_redispatch_after offline (`keep`
   * true: with no member connected they stay with it for now).
   */
  private handOff(clientId: string, keep: boolean): void {
    const store = this.opts.store;
    store?.takeShared(clientId, (h: HandOff) => {
      const g = this.groups.get(h.group);
      const msg: SharedMessage = { topic: h.packet.topic!, payload: h.packet.payload ?? Buffer.alloc(0), qos: h.packet.qos ?? 1 };
      if (g && this.send(g, msg, () => {}, undefined, clientId)) {
        this.opts.redispatched.inc();
        return true;
      }
      if (keep) return false;
      if (this.queueOffline(h.group, msg, clientId)) this.opts.redispatched.inc();
      else this.opts.dropped.inc();
      return true;
    });
    // The session ends and its queue goes with it: what the store would not move (it cannot
    // write, broker.persistence disk on a full disk) is lost, and counted.
    const left = keep ? 0 : (store?.movableShared(clientId) ?? 0);
    if (left) this.opts.dropped.inc(left);
  }

  /**
   * No member of the group is connected: the message goes to the queue of a persistent member
   * that is offline (EMQX dispatches to such a session too), tagged with the group, so it gets it
   * when it reconnects or hands it on in turn. False when there is none (other than `exclude`).
   */
  private queueOffline(key: string, msg: SharedMessage, exclude: string): boolean {
    const to = this.opts.store && this.offlineMember(key, exclude);
    if (!to) return false;
    void this.enqueue(to.clientId, key, msg, Math.min(msg.qos, to.qos));
    if (this.timer && !this.offline.has(to.clientId)) this.offline.set(to.clientId, Date.now());
    return true;
  }

  /** Queues a message for a persistent member, tagged with the group (key), without sending it; refused (the store cannot write): counted, and logged by the store. */
  private enqueue(clientId: string, key: string, msg: SharedMessage, qos: number): Promise<void> {
    const store = this.opts.store!;
    const packet = { cmd: 'publish', topic: msg.topic, payload: msg.payload, qos, retain: false, dup: false, brokerId: HANDOFF_ID, brokerCounter: ++this.handoffs };
    return store.shareTags.during(clientId, key, () => store.outgoingEnqueue({ clientId }, packet)).catch(() => this.opts.dropped.inc());
  }

  /** A persistent member of the group (key) with QoS > 0, other than `exclude`; offline, as no member of the group is connected. */
  private offlineMember(key: string, exclude: string): { clientId: string; qos: number } | undefined {
    for (const sessions of [this.sessions, this.restoredShares]) {
      for (const [clientId, topics] of sessions) {
        if (clientId === exclude) continue;
        for (const [topic, qos] of topics) {
          const s = qos > 0 ? parseShare(topic) : undefined;
          if (s && `${s.group}\u0000${s.filter}` === key) return { clientId, qos };
        }
      }
    }
    return undefined;
  }

  private handOffOffline(after: number): void {
    const now = Date.now();
    for (const [id, since] of this.offline) {
      // A member whose new connection is being sent its queue (it is ready, and `connected`, only
      // once all of it is written) is back: what that queue holds goes to it, not to another member.
      if (now - since < after || this.opts.connecting?.(id)) continue;
      this.handOff(id, true);
      if (!this.opts.store?.shareTags.has(id)) this.offline.delete(id); // nothing of the groups' left with it
    }
  }
}
