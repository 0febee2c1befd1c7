// node-coap's server with the edges the gateway needs filed down. node-coap keeps doing what it
// is good at (request/response exchanges, piggy-backed vs separate responses, de-duplication of
// retransmitted requests, Block2 slicing); this subclass changes five things, each for a reason:
//  1. Every datagram is framing-checked first (wire.ts): a malformed one is answered with RST
//     (Confirmable) or ignored, never with node-coap's "5.00 <exception text>".
//  2. The de-duplication cache counts responses, not bytes: node-coap's byte budget (32 MiB)
//     admits ~3 million empty 2.04s, each pinning ~5 KB of objects for 247 s.
//  3. Block1, Observe, Size1 and Request-Tag are taken off the request before node-coap sees it:
//     its Block1 reassembly breaks against libcoap 4.3 (block.ts does it instead), and the adapter
//     sends notifications itself (flow control, NON/CON choice, Block2 of notifications).
//  4. Retransmitted requests are answered from the cache here, because node-coap only does that
//     when its socket is a dgram.Socket, and the transport may be a modem's datagram channel.
//     A CON request whose answer went as an empty ACK + separate response is tracked here too:
//     node-coap caches that empty ACK without the token, under a key its lookup never hits.
//  5. A hook sees each datagram first (rate limit, ACK/RST of our notifications).
import type { RemoteInfo } from 'node:dgram';
import type { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Server as CoapServer, parameters, type IncomingMessage, type OutgoingMessage } from 'coap';
import { parse, type ParsedPacket } from 'coap-packet';
import { LruMap } from '../lib/coap/bounded.ts';
import { TYPE, checkDatagram, emptyAckFor, isRequestCode, replyFor, resetFor } from '../lib/coap/wire.ts';

/**
 * The transport seam: a UDP socket, or anything else that emits ('message', buf, rinfo) and sends
 * dgram-style (an NB-IoT modem's socket bridged by the modem adapter).
 */
export interface DatagramTransport extends EventEmitter {
  send(msg: Buffer, offset: number, length: number, port: number, address: string, cb?: (err: Error | null, bytes?: number) => void): void;
}

export interface Peer {
  address: string;
  port: number;
  family?: string;
}

/** What the adapter learns before node-coap: options it took off, for its own handling. */
export interface Stash {
  block1?: Buffer;
  observe?: Buffer;
  size1?: Buffer;
  requestTag?: Buffer;
}

export interface ServerHooks {
  /** Sees every well-formed datagram first; returns true when it dealt with it. */
  intercept(packet: ParsedPacket, peer: Peer, server: FieldgateCoapServer): boolean;
  malformed(reason: string, peer: Peer): void;
  internalError(err: Error, peer: Peer): void;
}

export interface ServerLimits {
  /** Responses kept for answering retransmitted requests (RFC 7252 4.5). */
  dedupEntries: number;
  /** Large responses kept for Block2 follow-up requests. */
  block2Entries: number;
  piggybackReplyMs: number;
}

const STASH = Symbol('fieldgate.coap.stash');
const TAKEN: Record<string, keyof Stash> = { Block1: 'block1', Observe: 'observe', Size1: 'size1', '292': 'requestTag' };

export function stashOf(req: IncomingMessage): Stash {
  return ((req as unknown as { _packet: Record<symbol, Stash> })._packet[STASH] ?? {}) as Stash;
}

export function packetOf(req: IncomingMessage): ParsedPacket {
  return (req as unknown as { _packet: ParsedPacket })._packet;
}

/** A CON request being handled (or answered separately): its token, and whether the empty ACK went out. */
type ConExchange = { token: Buffer; res?: OutgoingMessage; acked: boolean };

type Cached = Buffer & { sender?: { reset(): void } };

type Internals = {
  _lru: { peek(k: string): (Buffer & { sender?: { reset(): void } }) | undefined; constructor: new (o: object) => unknown; clear(): void };
  _block2Cache: { _cache: Map<string, unknown>; add(k: string, v: unknown): void; remove(k: string): boolean };
  _sock: DatagramTransport | null;
  _handle(packet: ParsedPacket, rinfo: RemoteInfo): void;
  _toKey(req: { rsinfo: Peer }, packet: ParsedPacket, appendToken: boolean): string;
};

export class FieldgateCoapServer extends CoapServer {
  private nextMid = Math.floor(Math.random() * 0x10000);
  /**
   * Recent NON requests by peer + message ID. node-coap caches a NON request's response under the
   * response's own message ID, so a duplicated NON would be processed (published) twice.
   */
  private readonly recentNon: LruMap<string, true>;
  /**
   * CON requests by peer + message ID, from arrival until answered piggy-backed (then node-coap's
   * cache answers retransmissions) or, when the answer went as an empty ACK + separate response,
   * for EXCHANGE_LIFETIME. A retransmission is never processed again: it gets the empty ACK once
   * that was sent, and is ignored before (the piggy-backed answer is still to come).
   */
  private readonly conExchanges: LruMap<string, ConExchange>;

  /** `id` names the transport ("udp4", "udp6", "modem") in peer keys. */
  constructor(readonly id: string, limits: ServerLimits, private readonly hooks: ServerHooks) {
    super({ piggybackReplyMs: limits.piggybackReplyMs, sendAcksForNonConfirmablePackets: true });
    // NON_LIFETIME (RFC 7252 4.8.2) is 145 s.
    this.recentNon = new LruMap(limits.dedupEntries, 145_000);
    this.conExchanges = new LruMap(limits.dedupEntries, parameters.exchangeLifetime * 1000);
    const self = this as unknown as Internals;
    const Lru = self._lru.constructor;
    const lru = new Lru({
      max: limits.dedupEntries,
      ttl: parameters.exchangeLifetime * 1000,
      dispose: (value: { sender?: { reset(): void } }) => value.sender?.reset(),
    }) as Internals['_lru'] & { set(k: string, v: Cached): void };
    // node-coap attaches a RetrySend (an EventEmitter with a 202 s timer, holding the response
    // stream) to every cached response, which is what makes each entry cost ~5 KB. A piggy-backed
    // ACK or a NON response is never retransmitted, so once node-coap has sent it (synchronously
    // after caching it) the sender is released and the entry is just the bytes. Separate CON
    // responses keep their sender: it retransmits them until the client's ACK.
    const set = lru.set.bind(lru);
    lru.set = (key, buf) => {
      set(key, buf);
      if (((buf[0]! >> 4) & 3) === TYPE.CON) return;
      queueMicrotask(() => {
        buf.sender?.reset();
        delete buf.sender;
      });
    };
    self._lru = lru;
    const b2 = self._block2Cache;
    const add = b2.add.bind(b2);
    b2.add = (k, v) => {
      if (!b2._cache.has(k) && b2._cache.size >= limits.block2Entries) b2.remove(b2._cache.keys().next().value as string);
      add(k, v);
    };
  }

  /** Message IDs for messages this server originates (notifications, NON replies). */
  messageId(): number {
    this.nextMid = (this.nextMid + 1) & 0xffff;
    return this.nextMid;
  }

  /** Sends raw bytes through whatever transport this server listens on. */
  sendRaw(buf: Buffer, peer: Peer): void {
    const sock = (this as unknown as Internals)._sock;
    sock?.send(buf, 0, buf.length, peer.port, peer.address, () => {});
  }

  get dedupSize(): number {
    return ((this as unknown as { _lru: { size: number } })._lru.size) ?? 0;
  }

  override handleRequest(): (msg: Buffer, rinfo: AddressInfo) => void {
    return (msg, rinfo) => this.onDatagram(msg, rinfo);
  }

  private onDatagram(msg: Buffer, rinfo: Peer): void {
    // node-coap's close() leaves its listener on a transport it did not create: ignore late datagrams.
    if (!(this as unknown as Internals)._sock) return;
    const checked = checkDatagram(msg);
    if (!checked.ok) {
      if (checked.header?.type === TYPE.CON) this.sendRaw(resetFor(checked.header.messageId), rinfo);
      this.hooks.malformed(checked.reason, rinfo);
      return;
    }
    const h = checked.header;
    if (h.code === 0) {
      // An empty CON is a "CoAP ping" and gets RST (RFC 7252 4.3); an empty NON is ignored.
      if (h.type === TYPE.CON) return this.sendRaw(resetFor(h.messageId), rinfo);
      if (h.type === TYPE.NON) return;
    } else if (!isRequestCode(h.code)) {
      // A response from a client: we never send requests, so a CON one is rejected (4.2), others ignored.
      if (h.type === TYPE.CON) this.sendRaw(resetFor(h.messageId), rinfo);
      return;
    }
    let packet: ParsedPacket;
    try {
      packet = parse(msg);
    } catch (err) {
      if (h.type === TYPE.CON) this.sendRaw(resetFor(h.messageId), rinfo);
      this.hooks.malformed(`unparseable: ${(err as Error).message}`, rinfo);
      return;
    }
    const self = this as unknown as Internals;
    if (!packet.ack && !packet.reset) {
      const cached = self._lru.peek(self._toKey({ rsinfo: rinfo }, packet, true));
      if (cached) return this.sendRaw(cached, rinfo);
    }
    if (packet.confirmable) {
      const e = this.conExchanges.get(exchangeKey(rinfo, packet.messageId));
      if (e && e.token.equals(packet.token)) {
        // node-coap's OutgoingMessage turns from ACK to CON when its piggy-back timer sends the empty ACK.
        if (e.acked || (e.res as unknown as { _packet: { ack: boolean } } | undefined)?._packet.ack === false) this.sendRaw(emptyAckFor(packet.messageId), rinfo);
        return;
      }
    }
    if (!packet.confirmable && !packet.ack && !packet.reset) {
      const k = `${rinfo.address}|${rinfo.port}|${packet.messageId}`;
      if (this.recentNon.peek(k)) return; // a duplicate NON is silently ignored (RFC 7252 4.5)
      this.recentNon.set(k, true);
    }
    if (this.hooks.intercept(packet, rinfo, this)) return;
    if (!packet.ack && !packet.reset) {
      const stash: Stash = {};
      packet.options = packet.options.filter((o) => {
        const k = TAKEN[String(o.name)];
        if (k) stash[k] = o.value;
        return !k;
      });
      (packet as unknown as Record<symbol, Stash>)[STASH] = stash;
    }
    try {
      self._handle(packet, rinfo as RemoteInfo);
    } catch (err) {
      this.hooks.internalError(err as Error, rinfo);
      if (!packet.ack && !packet.reset) this.sendRaw(replyFor(packet, '5.00', [], undefined, () => this.messageId()), rinfo);
    }
  }

  /** node-coap hands each request to its 'request' listeners here: CON exchanges are tracked from this point. */
  override emit(event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'request') this.track(args[0] as IncomingMessage, args[1] as OutgoingMessage);
    return super.emit(event, ...args);
  }

  private track(req: IncomingMessage, res: OutgoingMessage): void {
    const packet = packetOf(req);
    if (!packet.confirmable) return;
    const key = exchangeKey(req.rsinfo as Peer, packet.messageId);
    const e: ConExchange = { token: packet.token, res, acked: false };
    this.conExchanges.set(key, e);
    const end = res.end.bind(res) as (...a: unknown[]) => OutgoingMessage;
    (res as unknown as { end: (...a: unknown[]) => OutgoingMessage }).end = (...a) => {
      if ((res as unknown as { _packet: { ack: boolean } })._packet.ack) {
        if (this.conExchanges.peek(key) === e) this.conExchanges.delete(key); // piggy-backed: node-coap's cache answers from now on
      } else {
        e.acked = true;
      }
      e.res = undefined;
      return end(...a);
    };
  }

  /** node-coap's error path sends the exception text (and only over a dgram.Socket); send the code alone. */
  override _sendError(_payload: Buffer, rsinfo: RemoteInfo, packet?: { messageId?: number; token?: Buffer; confirmable?: boolean }, code = '5.00'): void {
    if (!packet || packet.messageId === undefined) return;
    this.sendRaw(replyFor({ confirmable: packet.confirmable ?? false, messageId: packet.messageId, token: packet.token ?? Buffer.alloc(0) }, code, [], undefined, () => this.messageId()), rsinfo);
  }
}

const exchangeKey = (peer: Peer, messageId: number): string => `${peer.address}|${peer.port}|${messageId}`;
