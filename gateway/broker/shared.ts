import { createHash } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { Aedes, AedesPublishPacket, Client } from 'aedes';
import { topicMatches } from '../core/topic.ts';
import { InFlight, type FlightEntry, type SharedMessage } from './shared-flight.ts';

// Shared subscriptions ($share/{group}/{filter}, EMQX's $queue/{filter}) built at the broker's seam:
// aedes 1.2 has none. The member's own SUBSCRIBE is granted as a literal subscription that no
// published topic can match (the broker refuses publishes to $share/ and $queue/), and each group
// gets one in-process aedes subscription to its filter; every message it receives goes to one
// member, picked by the strategy, through aedes's public Client.publish (which runs the ACL check
// at delivery and the QoS handling). Retained messages are never sent to shared subscribers: an
// in-process subscription does not receive them on subscribe. QoS 1/2 messages a member has not
// acknowledged when its session ends (a clean session disconnecting, a persistent one expiring)
// go to another member, as EMQX re-dispatches them (shared-flight.ts).
//
// With broker.persistence disk a QoS 1 message must be on disk for a persistent member before the
// publisher's PUBACK, which aedes writes before it publishes: `prepick` (called from the store's
// beforeAck) picks each matching group's member then, and the delivery after the PUBACK goes to
// that same member (the strategy advances once per message).

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
}

export class SharedSubscriptions {
  private readonly groups = new Map<string, Group>();
  /** Shared subscriptions of persistent sessions (topic -> QoS): joined again when they reconnect. */
  private readonly sessions = new Map<string, Map<string, number>>();

  private readonly flight: InFlight;
  /** Members picked before the PUBACK, per group key, keyed by the message's payload Buffer (which aedes's packet copies share). */
  private readonly prePicked = new WeakMap<object, Map<string, PrePick>>();

  constructor(private readonly aedes: Aedes, private readonly strategy: ShareStrategy, private readonly opts: SharedOptions) {
    this.flight = new InFlight(opts.maxInFlight, () => opts.dropped.inc());
  }

  get count(): number {
    let n = 0;
    for (const g of this.groups.values()) n += g.members.length;
    return n;
  }

  /** Shared messages in flight (sent to a member, not acknowledged). */
  get inFlight(): number {
    return this.flight.size;
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
    this.redispatch(clientId);
  }

  /** The client's connection ended: it leaves its groups; a clean session's in-flight messages go to other members. */
  disconnected(clientId: string, clean: boolean): void {
    this.leave(clientId);
    if (clean) this.redispatch(clientId);
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

  private pick(g: Group, msg: SharedMessage): Member | undefined {
    const live = g.members.filter((m) => !m.client.closed);
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
  prepick(msg: SharedMessage): string[] {
    if (typeof msg.payload !== 'object') return [];
    const keep: string[] = [];
    const picks = new Map<string, PrePick>();
    for (const g of this.groups.values()) {
      if (!topicMatches(g.filter, msg.topic)) continue;
      const m = this.pick(g, msg);
      if (!m) continue;
      const durable = !m.client.clean && Math.min(msg.qos, m.qos) > 0;
      picks.set(g.key, { clientId: m.client.id, durable });
      if (durable) keep.push(m.client.id);
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
    if (m) return void this.send(g, msg, done, m);
    if (!pre.durable) return void this.send(g, msg, done); // a clean-session member left meanwhile: another one
    // A persistent member that left meanwhile has the message in its queue (on disk) and gets it
    // when it reconnects, as if it had been in flight; if its session expires first, another does.
    this.flight.sent(pre.clientId, { group: g.key, msg });
    done();
  }

  /** Hands a message to one member (`to`, or the strategy's pick); false when the group has no connected member. */
  private send(g: Group, msg: SharedMessage, done: () => void, to?: Member): boolean {
    const m = to ?? this.pick(g, msg);
    if (!m) {
      done();
      return false;
    }
    const qos = Math.min(msg.qos, m.qos) as 0 | 1 | 2;
    const entry: FlightEntry | undefined = qos > 0 ? { group: g.key, msg } : undefined;
    const id = m.client.id;
    if (entry) this.flight.sent(id, entry);
    m.client.publish({ cmd: 'publish', topic: msg.topic, payload: msg.payload, qos, retain: false, dup: false }, () => {
      if (entry) this.flight.settled(id, entry, m.client.connected);
      done();
    });
    return true;
  }

  private redispatch(clientId: string): void {
    for (const e of this.flight.take(clientId)) {
      const g = this.groups.get(e.group);
      if (g && this.send(g, e.msg, () => {})) this.opts.redispatched.inc();
      else this.opts.dropped.inc();
    }
  }
}
