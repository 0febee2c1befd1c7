// Observe relations (RFC 7641) and delivery of MQTT messages to them as 2.05 notifications, with
// EMQX's flow control: at most one unacknowledged CON notification per observer, the rest queued
// up to a bound with the oldest dropped. The adapter sends notifications itself (not through
// node-coap's ObserveWriteStream) so it can choose NON/CON per message, see ACKs and RSTs, and
// send the first block of a large notification (RFC 7959 3.4).
import { generate } from 'coap-packet';
import type { AdapterContext, DeliveredMessage, Subscription } from '../../gateway/core/adapter.ts';
import { LruMap } from '../lib/coap/bounded.ts';
import { blockSize, encodeBlock, etagOf, sliceBlock } from '../lib/coap/block.ts';
import type { CoapEndpoint, Peer } from '../lib/coap/index.ts';

/** What an observation needs of the endpoint it lives on: its id, message ids, and sending. */
export type NotifyLink = Pick<CoapEndpoint, 'id' | 'messageId' | 'sendRaw'>;
import { uintOption } from '../lib/coap/wire.ts';

type Counter = ReturnType<AdapterContext['metrics']['counter']>;

export type NotifyType = 'non' | 'con' | 'qos';

export interface ObserverOptions {
  notifyType: NotifyType;
  maxObservers: number;
  maxPerClient: number;
  /** Observations from one source address (IP, any port), so one host cannot fill the table. */
  maxPerAddress: number;
  /**
   * An observation whose client has not proved alive (registration, re-registration, ACK of a CON
   * notification) for this long is dropped by expireIdle(); after half of it, the next
   * notification goes as CON so an active client renews it (RFC 7641 4.5).
   */
  leaseMs: number;
  queueMax: number;
  /** Preferred block size exponent for large notifications (client may ask for smaller). */
  szx: number;
  /** RFC 7252 transmission parameters for CON notifications. */
  ackTimeoutMs: number;
  maxRetransmit: number;
}

export interface ObserverMetrics {
  sent: Counter;
  retransmitted: Counter;
  droppedQueueFull: Counter;
  cancelled: Counter;
}

export interface Observer {
  readonly key: string;
  readonly clientid: string;
  /** Who registered it (the authenticated username); only the same principal may re-register or cancel it. */
  readonly username?: string;
  readonly filter: string;
  server: NotifyLink;
  peer: Peer;
  token: Buffer;
  subQos: 0 | 1;
  szx: number;
  seq: number;
  subscription?: Subscription;
  inflight?: { mid: number; buf: Buffer; attempts: number; timer: NodeJS.Timeout; waitMs: number };
  queue: DeliveredMessage[];
  lastNonMid?: number;
  /** When a CON notification last proved the client alive (registration counts). */
  lastConfirmed: number;
  closed: boolean;
}

export const peerKey = (server: NotifyLink, peer: Peer): string => `${server.id}|${peer.address}|${peer.port}`;

const addressKey = (server: NotifyLink, peer: Peer): string => `${server.id}|${peer.address}`;

/**
 * RFC 7641 3.4: whether Observe value v2 is fresher than v1 (24-bit values that wrap). The time
 * condition (more than 128 s apart) is the caller's.
 */
export function fresher(v1: number, v2: number): boolean {
  return (v1 < v2 && v2 - v1 < 2 ** 23) || (v1 > v2 && v1 - v2 > 2 ** 23);
}

/** Starting Observe value derived from the clock, so a re-registration after a restart still increases within 128 s. */
const seqBase = (): number => Math.floor(Date.now() / 16) & 0xffffff;

export class Observers {
  private readonly byKey = new Map<string, Observer>();
  private readonly byClient = new Map<string, Set<Observer>>();
  private readonly byMid = new Map<string, Observer>();
  private readonly byAddress = new Map<string, number>();
  /** Full payloads of large notifications, for Block2 follow-up GETs; few and short-lived. */
  readonly snapshots = new LruMap<string, Buffer>(64, 60_000);

  constructor(
    private readonly opts: ObserverOptions,
    private readonly metrics: ObserverMetrics,
    private readonly onGone: (o: Observer, why: string) => void,
  ) {}

  get size(): number {
    return this.byKey.size;
  }

  /** Relations are per clientid, principal and filter: another user's request with the same clientid never finds this one. */
  static key(clientid: string, filter: string, username?: string): string {
    return `${clientid}\u0000${username ?? ''}\u0000${filter}`;
  }

  get(clientid: string, filter: string, username?: string): Observer | undefined {
    return this.byKey.get(Observers.key(clientid, filter, username));
  }

  /** Why a new relation cannot be added, or undefined. */
  refuse(clientid: string, username: string | undefined, server: NotifyLink, peer: Peer): string | undefined {
    if (this.byKey.size >= this.opts.maxObservers) return `the gateway observes its limit of ${this.opts.maxObservers} topics`;
    let mine = 0;
    for (const o of this.byClient.get(clientid) ?? []) if (o.username === username) mine++;
    if (mine >= this.opts.maxPerClient) return `client ${clientid} observes its limit of ${this.opts.maxPerClient} topics`;
    if ((this.byAddress.get(addressKey(server, peer)) ?? 0) >= this.opts.maxPerAddress) return `address ${peer.address} observes its limit of ${this.opts.maxPerAddress} topics`;
    return undefined;
  }

  add(o: Omit<Observer, 'key' | 'seq' | 'queue' | 'closed' | 'lastConfirmed'>): Observer {
    const obs: Observer = { ...o, key: Observers.key(o.clientid, o.filter, o.username), seq: seqBase(), queue: [], closed: false, lastConfirmed: Date.now() };
    this.byKey.set(obs.key, obs);
    this.countAddress(obs, 1);
    let set = this.byClient.get(obs.clientid);
    if (!set) this.byClient.set(obs.clientid, (set = new Set()));
    set.add(obs);
    return obs;
  }

  /** The next Observe value (24 bits, increasing). */
  nextSeq(o: Observer): number {
    o.seq = (o.seq + 1) & 0xffffff;
    return o.seq;
  }

  forClient(clientid: string): Observer[] {
    return [...(this.byClient.get(clientid) ?? [])];
  }

  /** Points a client's relations at its new address (NAT rebinding, session takeover). */
  moveClient(clientid: string, server: NotifyLink, peer: Peer): void {
    for (const o of this.forClient(clientid)) this.rebind(o, server, peer, o.token);
  }

  /**
   * A re-registration (RFC 7641 4.1): the relation takes the request's address and token. The
   * ACK of a notification in flight is then expected from the new address, so it is re-keyed.
   */
  rebind(o: Observer, server: NotifyLink, peer: Peer, token: Buffer): void {
    const mids = [o.inflight?.mid, o.lastNonMid].filter((m): m is number => m !== undefined);
    for (const m of mids) this.byMid.delete(this.midKey(o, m));
    this.countAddress(o, -1);
    o.server = server;
    o.peer = peer;
    o.token = token;
    this.countAddress(o, 1);
    for (const m of mids) this.byMid.set(this.midKey(o, m), o);
  }

  /** A re-registration proves the client alive. */
  renew(o: Observer): void {
    o.lastConfirmed = Date.now();
  }

  /** Drops relations whose client has not proved alive within the lease; returns how many. */
  async expireIdle(now = Date.now()): Promise<number> {
    const gone = [...this.byKey.values()].filter((o) => now - o.lastConfirmed > this.opts.leaseMs);
    await Promise.all(gone.map((o) => this.remove(o, 'lease expired')));
    return gone.length;
  }

  async remove(o: Observer, why: string): Promise<void> {
    if (o.closed) return;
    o.closed = true;
    if (o.inflight) {
      clearTimeout(o.inflight.timer);
      this.byMid.delete(this.midKey(o, o.inflight.mid));
    }
    if (o.lastNonMid !== undefined) this.byMid.delete(this.midKey(o, o.lastNonMid));
    o.queue.length = 0;
    this.byKey.delete(o.key);
    this.countAddress(o, -1);
    this.snapshots.delete(o.key);
    const set = this.byClient.get(o.clientid);
    set?.delete(o);
    if (set?.size === 0) this.byClient.delete(o.clientid);
    this.onGone(o, why);
    await o.subscription?.unsubscribe().catch(() => {});
  }

  async removeClient(clientid: string, why: string): Promise<void> {
    await Promise.all(this.forClient(clientid).map((o) => this.remove(o, why)));
  }

  async clear(): Promise<void> {
    await Promise.all([...this.byKey.values()].map((o) => this.remove(o, 'stopped')));
  }

  /** Handles an MQTT message for an observer. */
  deliver(o: Observer, msg: DeliveredMessage): void {
    if (o.closed) return;
    const con = this.opts.notifyType === 'con' || (this.opts.notifyType === 'qos' && Math.min(msg.qos, o.subQos) >= 1) || Date.now() - o.lastConfirmed > this.opts.leaseMs / 2;
    if (!con) return this.send(o, msg.payload, false);
    if (o.inflight) {
      o.queue.push(msg);
      if (o.queue.length > this.opts.queueMax) {
        o.queue.shift();
        this.metrics.droppedQueueFull.inc();
      }
      return;
    }
    this.send(o, msg.payload, true);
  }

  /** An ACK or RST from a peer: true when it answered one of our notifications. */
  onReply(server: NotifyLink, peer: Peer, messageId: number, reset: boolean): boolean {
    const k = `${server.id}|${peer.address}|${peer.port}|${messageId}`;
    const o = this.byMid.get(k);
    if (!o) return false;
    this.byMid.delete(k);
    if (reset) {
      // RFC 7641 3.6: a Reset to a notification cancels the observation.
      this.metrics.cancelled.inc();
      void this.remove(o, 'reset by client');
      return true;
    }
    if (o.inflight?.mid === messageId) {
      o.lastConfirmed = Date.now();
      clearTimeout(o.inflight.timer);
      o.inflight = undefined;
      const next = o.queue.shift();
      if (next) this.send(o, next.payload, true);
    }
    return true;
  }

  private countAddress(o: Observer, d: 1 | -1): void {
    const k = addressKey(o.server, o.peer);
    const n = (this.byAddress.get(k) ?? 0) + d;
    if (n > 0) this.byAddress.set(k, n);
    else this.byAddress.delete(k);
  }

  private midKey(o: Observer, mid: number): string {
    return `${peerKey(o.server, o.peer)}|${mid}`;
  }

  private send(o: Observer, payload: Buffer, con: boolean): void {
    const options: { name: string; value: Buffer }[] = [{ name: 'Observe', value: uintOption(this.nextSeq(o)) }];
    let body = payload;
    if (payload.length > blockSize(o.szx)) {
      // First block only; the client GETs the rest with Block2 (RFC 7959 3.4), served from the snapshot.
      const first = sliceBlock(payload, 0, o.szx)!;
      body = first.data;
      options.push({ name: 'ETag', value: etagOf(payload) }, { name: 'Block2', value: encodeBlock({ num: 0, more: first.more, szx: o.szx }) }, { name: 'Size2', value: uintOption(payload.length) });
      this.snapshots.set(o.key, payload);
    }
    const mid = o.server.messageId();
    const buf = generate({ code: '2.05', messageId: mid, token: o.token, confirmable: con, ack: false, reset: false, options: options as never, payload: body });
    if (o.lastNonMid !== undefined) this.byMid.delete(this.midKey(o, o.lastNonMid));
    this.byMid.set(this.midKey(o, mid), o);
    o.server.sendRaw(buf, o.peer);
    this.metrics.sent.inc();
    if (!con) {
      o.lastNonMid = mid;
      return;
    }
    o.lastNonMid = undefined;
    const waitMs = this.opts.ackTimeoutMs * (1 + Math.random() * 0.5);
    o.inflight = { mid, buf, attempts: 0, waitMs, timer: setTimeout(() => this.retransmit(o), waitMs) };
  }

  private retransmit(o: Observer): void {
    const f = o.inflight;
    if (!f || o.closed) return;
    if (f.attempts >= this.opts.maxRetransmit) {
      // RFC 7641 4.5: a CON notification that is never acknowledged ends the observation.
      this.metrics.cancelled.inc();
      void this.remove(o, 'notification not acknowledged');
      return;
    }
    f.attempts++;
    f.waitMs *= 2;
    o.server.sendRaw(f.buf, o.peer);
    this.metrics.retransmitted.inc();
    f.timer = setTimeout(() => this.retransmit(o), f.waitMs);
  }
}
