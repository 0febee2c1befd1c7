import type { Client } from 'aedes';
import type { AuthService, Principal } from '../auth/service.ts';
import { AclCache } from './acl-cache.ts';
import { FrameTracker } from './frame-guard.ts';
import { filterCount, type Filters } from './filter-set.ts';
import type { ConnInfo } from './listeners.ts';

/** What $SYS and the registry need to know about an MQTT client session. */
export interface ClientSession {
  clientid: string;
  username?: string;
  ipaddress?: string;
  sockport?: number;
  /** The client's own port (the far end), when it has one. */
  peerport?: number;
  protocol: string;
  proto_name: string;
  proto_ver: number | string;
  keepalive: number;
  clean_start: boolean;
  connected_at: number;
  /** The MQTT listener (tcp, tls, ws) the client came in on. */
  listener?: string;
}

/**
 * Everything the broker keeps per network connection, in one object: it is its inbound frame
 * tracker (frame-guard.ts: the packet size limit, recv_pkt, DISCONNECT seen) too. Every field is
 * set in the constructor, so V8 lays them all out inside the object; a plain object grown field by
 * field, plus a tracker and a closure per connection, cost ~0.4 KB more per idle connection
 * (docs/raspberry-pi.md, "Where the idle memory goes").
 */
export class ClientState extends FrameTracker {
  username: string | undefined = undefined;
  keepalive = 0;
  clean = true;
  /** CONNECT carried a zero-length client id with clean session 0 [MQTT-3.1.3-8]. */
  emptyIdPersistent = false;
  /** EMQX's disconnect reason, once known. */
  reason: string | undefined = undefined;
  session: ClientSession | undefined = undefined;
  /** EMQX's connection counters the broker can keep from public APIs: socket reads (recv_cnt); inbound frames (recv_pkt) are the tracker's `frames`. */
  reads = 0;
  /** Frames written to it (send_pkt) and its QoS 1/2 PUBLISH among them (sent-frames.ts). */
  outbound: { readonly frames: number; readonly qosPublishes: number } | undefined = undefined;
  /** PUBLISH forwarded to it (send_msg). */
  forwarded = 0;
  /** Built once per connection: every publish and delivery asks the ACL with it. */
  principal: Principal | undefined = undefined;
  /** ACL answers per topic (acl-cache.ts), made lazily: an idle connection has none. */
  acl: AclCache | undefined = undefined;
  /** The filters this connection holds, for broker.max_subscriptions (subscription-bound.ts), made at its first subscribe. */
  filters: Filters = undefined;
  /** Set once aedes sent CONNACK: before it, authorizeSubscribe is restoring the stored session. */
  live = false;

  constructor(
    readonly client: Client,
    readonly info: ConnInfo,
    maxPacketSize: number,
    onAck?: (id: number, st: ClientState) => void,
  ) {
    super(maxPacketSize, onAck as ((id: number, tracker: FrameTracker) => void) | undefined);
  }
}

/** What the broker knows about its network clients, shared by its hooks and event handlers. */
export class ClientTable {
  /** Keyed by the client's connection (aedes' public `client.conn`): a 'data' listener finds it from its `this`. */
  private readonly states = new WeakMap<object, ClientState>();
  /** Filters per client id (for retained $ topics, dollar-guard.ts). */
  readonly subs = new Map<string, Filters>();
  /** The connected client per client id (a takeover replaces it before the old one is gone). */
  readonly current = new Map<string, Client>();
  /** Set once the broker stops accepting: connects are refused, publishes not acknowledged. */
  stopping = false;

  /** `onAck` (one function for every connection): the packet id of each PUBACK and PUBREC it sends. */
  add(client: Client, info: ConnInfo, maxPacketSize: number, onAck?: (id: number, st: ClientState) => void): ClientState {
    const st = new ClientState(client, info, maxPacketSize, onAck);
    this.states.set(client.conn, st);
    return st;
  }

  get(client: Client | undefined): ClientState | undefined {
    return client ? this.states.get(client.conn) : undefined;
  }

  /** The state of the connection `stream` (the `this` of its 'data' listener). */
  ofStream(stream: object): ClientState | undefined {
    return this.states.get(stream);
  }

  /** Records why the client's connection ends (EMQX's reason in the disconnect event). */
  setReason(client: Client, reason: string): void {
    const st = this.get(client);
    if (st) st.reason = reason;
  }

  /** Who the client is, for auth and the ACL; the same object for the connection's life once its id and username are known. */
  principal(client: Client): Principal {
    const st = this.get(client);
    const p = st?.principal;
    if (p && p.clientid === client.id && p.username === st.username) return p;
    const made: Principal = { clientid: client.id, username: st?.username, ipaddress: st?.info.ipaddress, protocol: 'mqtt', listener: st?.info.listener };
    if (st) st.principal = made;
    return made;
  }

  /** The client's ACL answers (acl-cache.ts); a client the table does not know is asked afresh each time. */
  acl(client: Client, auth: AuthService): AclCache {
    const st = this.get(client);
    if (!st) return new AclCache(auth);
    return (st.acl ??= new AclCache(auth));
  }

  subscriptionCount(): number {
    let n = 0;
    for (const s of this.subs.values()) n += filterCount(s);
    return n;
  }
}
