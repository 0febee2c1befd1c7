// The CoAP engine: one endpoint per datagram transport, both roles on the same socket.
//
// Why this is built on coap-packet and not on node-coap (measured, see docs/architecture.md
// "The CoAP engine"): node-coap's public API does not fit a gateway that is also a client.
//  - Its Agent matches ACKs by message id and responses by token alone, not by peer (RFC 7252
//    5.3.2 matches on the endpoint too); on a server socket shared by thousands of devices a
//    response from one device could complete another's request. Its Server resets every
//    response it receives, so Agent and Server cannot share the port a device registered with.
//  - Its de-duplication cache is a byte budget (32 MiB by default): millions of tiny responses,
//    each pinning ~5 KB of objects for 247 s (600 MB in a 100k-request flood). Bounding it took
//    patching private fields.
//  - Its Block1 reassembly breaks against libcoap 4.3 (a new token per block).
//  - It answers retransmissions from its cache only over a dgram.Socket, processes requests that
//    arrive in ACK/RST messages, and sends exception text in 5.00 payloads.
// coap-packet (node-coap's own codec) parses and generates; everything stateful is here, bounded
// in exchanges (not bytes), over any DatagramTransport. Measured (npm run bench -- coap-ingest
// coap-flood, same run, 2 shared cores): a no-op 2.04 server on this engine answers 1.34-1.59x
// node-coap's rate, and a 100k-request flood from 1,000 addresses peaks at 134-139 MB RSS here
// against 223-288 MB for node-coap with its defaults.
import { parse, type ParsedPacket } from 'coap-packet';
import type { DatagramTransport as CoreDatagram } from '../../../gateway/core/datagram.ts';
import { blockSize, szxFor } from './block.ts';
import { ClientRole, type ClientRequest } from './client.ts';
import type { ConfirmableCallbacks, Link } from './link.ts';
import { systemClock, type Clock } from './clock.ts';
import type { CoapResponse } from './message.ts';
import { ServerRole, type ServerOptions } from './server.ts';
import { DEFAULT_MAX_MESSAGE, peerKey, type DatagramTransport, type Peer } from './transport.ts';
import { RFC7252_TRANSMISSION, retransmit, type Retransmission, type TransmissionParams } from './transmit.ts';
import { TYPE, checkDatagram, isRequestCode, resetFor } from './wire.ts';

export interface EndpointOptions extends Partial<ServerOptions> {
  /** Names the transport in logs and peer keys: "udp4", "udp6", "modem". */
  id: string;
  /** Largest datagram sent; defaults to the transport's `maxDatagram`, else 1152 (RFC 7252 4.6). */
  maxMessageSize?: number;
  /** Preferred block size for block-wise transfers (16..1024), capped by the message size. */
  blockSize?: number;
  transmission?: Partial<TransmissionParams>;
  /** Largest body a client-role Block2 read assembles (default 1 MiB). */
  maxResponseBody?: number;
  /**
   * CON messages retransmitted at once (separate responses, client requests). Beyond it a CON is
   * sent once and not retransmitted, so peers that never ACK cannot pile up timers (default 10,000).
   */
  maxAwaitingAck?: number;
  /** Duplicate CON responses/notifications remembered to ACK again without redelivery. */
  responseDedupEntries?: number;
  clock?: Clock;
}

export interface EndpointEvents {
  /**
   * An ACK or RST that answers nothing this endpoint sent through request() or a separate
   * response: messages the owner sent itself with sendRaw (observe notifications). True if taken.
   */
  reply?(type: 'ACK' | 'RST', messageId: number, peer: Peer): boolean;
  /** A datagram that is not valid CoAP, or a valid one RFC 7252 says to ignore; log it quietly. */
  malformed?(reason: string, peer: Peer): void;
  /** A handler threw, or a response could not be encoded. */
  error?(err: Error, peer: Peer): void;
  /** A gateway/core DatagramTransport refused a datagram (modem busy, socket closed); CON ones are retransmitted. */
  sendFailed?(err: Error, peer: Peer): void;
}

/** How the endpoint sends and listens, whichever kind of transport it was given. */
interface Wire {
  send(buf: Buffer, peer: Peer): void;
  listen(cb: (msg: Buffer, peer: Peer) => void): () => void;
  maxDatagram?: number;
}

const isCore = (t: DatagramTransport | CoreDatagram): t is CoreDatagram => typeof (t as CoreDatagram).onMessage === 'function';

/**
 * A dgram-style socket (UDP) or a gateway/core DatagramTransport (a modem's socket, provided as a
 * service). Both reply to the address and port the datagram came from, through the same transport.
 */
function wireOf(t: DatagramTransport | CoreDatagram, failed: (err: Error, peer: Peer) => void): Wire {
  if (isCore(t)) {
    return {
      maxDatagram: t.maxDatagram,
      send: (buf, peer) => void t.send(buf, peer.port, peer.address).catch((err: Error) => failed(err, peer)),
      listen: (cb) => t.onMessage((buf, from) => cb(buf, { address: from.address, port: from.port })),
    };
  }
  return {
    maxDatagram: t.maxDatagram,
    send: (buf, peer) => t.send(buf, 0, buf.length, peer.port, peer.address, () => {}),
    listen: (cb) => {
      t.on('message', cb);
      return () => t.off('message', cb);
    },
  };
}

/** Room for the header, a token and the options around a block: 2 ** (szx + 4) + this <= message size. */
const BLOCK_OVERHEAD = 128;

export class CoapEndpoint implements Link {
  readonly id: string;
  readonly clock: Clock;
  readonly params: TransmissionParams;
  readonly maxMessageSize: number;
  readonly szx: number;
  readonly server: ServerRole;
  readonly client: ClientRole;
  private nextMid: number;
  private readonly awaiting = new Map<string, { on: ConfirmableCallbacks; tx: Retransmission }>();
  private readonly wire: Wire;
  private readonly unlisten: () => void;
  private closed = false;
  private readonly maxAwaiting: number;
  /** CON messages sent once without retransmission because maxAwaitingAck was reached. */
  untracked = 0;

  constructor(readonly transport: DatagramTransport | CoreDatagram, opts: EndpointOptions, private readonly events: EndpointEvents = {}) {
    this.id = opts.id;
    this.clock = opts.clock ?? systemClock;
    this.params = { ...RFC7252_TRANSMISSION, ...opts.transmission };
    this.wire = wireOf(transport, (err, peer) => this.events.sendFailed?.(err, peer));
    this.maxMessageSize = opts.maxMessageSize ?? this.wire.maxDatagram ?? DEFAULT_MAX_MESSAGE;
    this.szx = Math.min(szxFor(opts.blockSize ?? 1024), szxFor(Math.max(16, this.maxMessageSize - BLOCK_OVERHEAD)));
    this.nextMid = Math.floor(this.clock.random() * 0x10000);
    this.maxAwaiting = opts.maxAwaitingAck ?? 10_000;
    this.server = new ServerRole(this, opts, (err, peer) => this.events.error?.(err, peer));
    this.client = new ClientRole(this, { maxBody: opts.maxResponseBody ?? 1024 * 1024, dedupEntries: opts.responseDedupEntries ?? 1000 });
    this.unlisten = this.wire.listen((msg, peer) => this.receive(msg, peer));
  }

  /** Block size in bytes that this endpoint uses for block-wise transfers. */
  get blockSize(): number {
    return blockSize(this.szx);
  }

  messageId(): number {
    this.nextMid = (this.nextMid + 1) & 0xffff;
    return this.nextMid;
  }

  /** Sends raw bytes to a peer through this endpoint's transport. */
  send(buf: Buffer, peer: Peer): void {
    if (this.closed) return;
    try {
      this.wire.send(buf, peer);
    } catch (err) {
      // A closed socket throws synchronously: nothing can be sent any more, and nothing to tell.
      this.events.error?.(err as Error, peer);
    }
  }

  /** Alias kept for the owner's notifications: bytes it built itself. */
  sendRaw(buf: Buffer, peer: Peer): void {
    this.send(buf, peer);
  }

  sendConfirmable(buf: Buffer, messageId: number, peer: Peer, on: ConfirmableCallbacks): Retransmission {
    if (this.closed) return { sent: 0, stop: () => {} };
    const key = `${peerKey(peer)}|${messageId}`;
    if (this.awaiting.size >= this.maxAwaiting) {
      // Full: sent once, not retransmitted; the peer's own retransmission or ours of others go on.
      this.untracked++;
      this.send(buf, peer);
      return { sent: 1, stop: () => {} };
    }
    const tx = retransmit(this.clock, this.params, () => this.send(buf, peer), (sent) => {
      this.awaiting.delete(key);
      on.timeout(sent);
    });
    const entry = { on, tx };
    this.awaiting.set(key, entry);
    return {
      get sent() {
        return tx.sent;
      },
      stop: () => {
        tx.stop();
        if (this.awaiting.get(key) === entry) this.awaiting.delete(key);
      },
    };
  }

  /** Sends a request to a peer from this endpoint's socket (the client role). */
  request(peer: Peer, req: ClientRequest): Promise<CoapResponse> {
    if (this.closed) return Promise.reject(new Error(`CoAP endpoint ${this.id} is closed`));
    return this.client.request(peer, req);
  }

  /** Stops listening; pending client requests fail, CON transmissions stop. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unlisten();
    for (const { tx } of this.awaiting.values()) tx.stop();
    this.awaiting.clear();
    this.server.close();
    this.client.close();
  }

  /** Counts for gauges: de-duplication entries, CON messages awaiting ACK, open uploads, observations. */
  stats(): { dedup: number; awaitingAck: number; block1Uploads: number; block1Bytes: number; observations: number; pendingRequests: number } {
    return { ...this.server.stats(), ...this.client.stats(), awaitingAck: this.awaiting.size };
  }

  /** One datagram from the transport. */
  receive(msg: Buffer, peer: Peer): void {
    if (this.closed) return;
    const checked = checkDatagram(msg);
    if (!checked.ok) {
      if (checked.header?.type === TYPE.CON) this.send(resetFor(checked.header.messageId), peer);
      this.events.malformed?.(checked.reason, peer);
      return;
    }
    const h = checked.header;
    if (h.code === 0) return this.empty(h.type, h.messageId, peer);
    if (h.type === TYPE.RST) return this.events.malformed?.('Reset carrying a request or response (RFC 7252 4.2: ignored)', peer);
    if (isRequestCode(h.code) && h.type === TYPE.ACK) return this.events.malformed?.('Acknowledgement carrying a request (RFC 7252 4.2: ignored)', peer);
    let packet: ParsedPacket;
    try {
      packet = parse(msg);
    } catch (err) {
      if (h.type === TYPE.CON) this.send(resetFor(h.messageId), peer);
      this.events.malformed?.(`unparseable: ${(err as Error).message}`, peer);
      return;
    }
    if (isRequestCode(h.code)) return this.server.receive(packet, peer);
    if (h.type === TYPE.ACK) {
      const key = `${peerKey(peer)}|${h.messageId}`;
      const a = this.awaiting.get(key);
      if (!a) return; // a late or duplicate piggy-backed response: already handled or never ours
      this.awaiting.delete(key);
      a.tx.stop();
      return a.on.ack(packet);
    }
    // A separate response or a notification (CON/NON).
    if (!this.client.receive(packet, peer) && h.type === TYPE.CON) this.send(resetFor(h.messageId), peer);
  }

  private empty(type: number, messageId: number, peer: Peer): void {
    if (type === TYPE.CON) return this.send(resetFor(messageId), peer); // a "CoAP ping" (RFC 7252 4.3)
    if (type === TYPE.NON) return;
    const key = `${peerKey(peer)}|${messageId}`;
    const a = this.awaiting.get(key);
    if (a) {
      this.awaiting.delete(key);
      a.tx.stop();
      if (type === TYPE.RST) return a.on.reset();
      return a.on.ack(EMPTY_ACK(messageId));
    }
    this.events.reply?.(type === TYPE.RST ? 'RST' : 'ACK', messageId, peer);
  }
}

const EMPTY_ACK = (messageId: number): ParsedPacket => ({ code: '0.00', confirmable: false, reset: false, ack: true, messageId, token: Buffer.alloc(0), options: [], payload: Buffer.alloc(0) });
