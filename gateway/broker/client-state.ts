import type { Client } from 'aedes';
import type { AuthService, Principal } from '../auth/service.ts';
import { AclCache } from './acl-cache.ts';
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

export interface ClientState {
  info: ConnInfo;
  username?: string;
  keepalive: number;
  clean: boolean;
  /** CONNECT carried a zero-length client id with clean session 0 [MQTT-3.1.3-8]. */
  emptyIdPersistent?: boolean;
  /** EMQX's disconnect reason, once known. */
  reason?: string;
  session?: ClientSession;
  /** EMQX's connection counters the broker can keep from public APIs: socket reads (recv_cnt), its inbound frames (recv_pkt), PUBLISH forwarded to it (send_msg). */
  reads: number;
  inbound?: { readonly frames: number; readonly sawDisconnect: boolean };
  /** Frames written to it (send_pkt) and its QoS 1/2 PUBLISH among them (sent-frames.ts). */
  outbound?: { readonly frames: number; readonly qosPublishes: number };
  forwarded: number;
  /** Built once per connection: every publish and delivery asks the ACL with it. */
  principal?: Principal;
  /** ACL answers per topic (acl-cache.ts), made lazily: an idle connection has none. */
  acl?: AclCache;
}

/** What the broker knows about its network clients, shared by its hooks and event handlers. */
export class ClientTable {
  private readonly states = new WeakMap<Client, ClientState>();
  /** Filters per client id (for retained $ topics, dollar-guard.ts). */
  readonly subs = new Map<string, Set<string>>();
  /** The connected client per client id (a takeover replaces it before the old one is gone). */
  readonly current = new Map<string, Client>();
  /** Set once the broker stops accepting: connects are refused, publishes not acknowledged. */
  stopping = false;

  add(client: Client, info: ConnInfo): void {
    this.states.set(client, { info, keepalive: 0, clean: true, reads: 0, forwarded: 0 });
  }

  get(client: Client): ClientState | undefined {
    return this.states.get(client);
  }

  /** Records why the client's connection ends (EMQX's reason in the disconnect event). */
  setReason(client: Client, reason: string): void {
    const st = this.states.get(client);
    if (st) st.reason = reason;
  }

  /** Who the client is, for auth and the ACL; the same object for the connection's life once its id and username are known. */
  principal(client: Client): Principal {
    const st = this.states.get(client);
    const p = st?.principal;
    if (p && p.clientid === client.id && p.username === st.username) return p;
    const made: Principal = { clientid: client.id, username: st?.username, ipaddress: st?.info.ipaddress, protocol: 'mqtt', listener: st?.info.listener };
    if (st) st.principal = made;
    return made;
  }

  /** The client's ACL answers (acl-cache.ts); a client the table does not know is asked afresh each time. */
  acl(client: Client, auth: AuthService): AclCache {
    const st = this.states.get(client);
    if (!st) return new AclCache(auth);
    return (st.acl ??= new AclCache(auth));
  }

  subscriptionCount(): number {
    let n = 0;
    for (const s of this.subs.values()) n += s.size;
    return n;
  }
}
