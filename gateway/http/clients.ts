import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import type { Client } from 'aedes';
import type { Broker, ClientSession } from '../broker/broker.ts';

export interface SubscriptionInfo {
  clientid: string;
  topic: string;
  qos: number;
}

export interface TrackedClient {
  session: ClientSession;
  client?: Client;
  connected: boolean;
  disconnected_at?: number;
  /** PUBLISH packets received from the client. */
  recv_msg: number;
  /** PUBACK and PUBCOMP received on this connection (aedes `ack`): what ends a QoS 1/2 delivery's flight. */
  acks: number;
  subs: Map<string, number>;
}

/** Disconnected persistent sessions kept for the API; beyond it the oldest are forgotten. */
const MAX_OFFLINE = 10_000;

/**
 * The MQTT clients and their subscriptions as the management API shows them, built from the
 * broker's public events (aedes `clientReady`, `subscribe`, `unsubscribe`, `publish`; the broker's
 * `connected`/`disconnected`). A client that asked for a persistent session (clean_start false)
 * stays listed as disconnected with its subscriptions, as EMQX lists it.
 */
export interface TrackerEvents {
  /** A client finished connecting (its aedes client and socket are known). */
  ready: [TrackedClient];
  gone: [ClientSession, string];
}

export class ClientTracker extends EventEmitter<TrackerEvents> {
  private readonly clients = new Map<string, TrackedClient>();

  constructor(private readonly broker: Broker) {
    super();
    const a = broker.aedes;
    broker.on('connected', (s) => {
      const prev = this.clients.get(s.clientid);
      const subs = prev && !s.clean_start ? prev.subs : new Map<string, number>();
      this.clients.set(s.clientid, { session: s, connected: true, recv_msg: 0, acks: 0, subs });
    });
    a.on('clientReady', (c) => {
      const t = this.clients.get(c.id);
      if (!t) return;
      t.client = c;
      this.emit('ready', t);
    });
    broker.on('disconnected', (s, reason) => {
      this.emit('gone', s, reason);
      const t = this.clients.get(s.clientid);
      // A takeover: the new session's connected event came first; this one is the old session's.
      if (!t || t.session !== s) return;
      if (s.clean_start) {
        this.clients.delete(s.clientid);
        return;
      }
      t.connected = false;
      t.client = undefined;
      t.disconnected_at = Date.now();
      this.pruneOffline();
    });
    a.on('subscribe', (subs, c) => {
      const t = this.clients.get(c.id);
      if (t) for (const s of subs) t.subs.set(s.topic, s.qos);
    });
    a.on('unsubscribe', (topics, c) => {
      const t = this.clients.get(c.id);
      if (t) for (const topic of topics) t.subs.delete(topic);
    });
    a.on('publish', (_packet, c) => {
      if (!c) return;
      const t = this.clients.get(c.id);
      if (t) t.recv_msg++;
    });
    a.on('ack', (_packet, c) => {
      const t = this.clients.get(c.id);
      if (t?.client === c) t.acks++;
    });
  }

  private pruneOffline(): void {
    let offline = 0;
    for (const t of this.clients.values()) if (!t.connected) offline++;
    for (const [id, t] of this.clients) {
      if (offline <= MAX_OFFLINE) return;
      if (t.connected) continue;
      this.clients.delete(id);
      offline--;
    }
  }

  get(clientid: string): TrackedClient | undefined {
    return this.clients.get(clientid);
  }

  all(): TrackedClient[] {
    return [...this.clients.values()];
  }

  subscriptions(): SubscriptionInfo[] {
    const out: SubscriptionInfo[] = [];
    for (const t of this.clients.values()) for (const [topic, qos] of t.subs) out.push({ clientid: t.session.clientid, topic, qos });
    return out;
  }

  get connectedCount(): number {
    let n = 0;
    for (const t of this.clients.values()) if (t.connected) n++;
    return n;
  }

  /** Disconnects a connected client with reason `kicked`; false when it is not connected. */
  kick(clientid: string): boolean {
    const t = this.clients.get(clientid);
    if (!t?.connected || !t.client) return false;
    this.broker.kick(t.client);
    return true;
  }

  /**
   * EMQX's counters that the broker can keep honestly: while connected, socket reads (recv_cnt),
   * MQTT packets received (recv_pkt) and sent (send_pkt), PUBLISH packets sent (send_msg); for a
   * persistent session its queue (mqueue_len) and the QoS 1/2 messages sent and unacknowledged
   * (inflight_cnt) from the session store. aedes keeps no queue for a clean session: mqueue_len is
   * 0, and inflight_cnt is counted on the connection (QoS 1/2 PUBLISH written, less PUBACK/PUBCOMP
   * received; a client acknowledging an id twice cannot take it below 0).
   */
  counters(t: TrackedClient): { recv_cnt?: number; recv_pkt?: number; send_msg?: number; send_pkt?: number; mqueue_len: number; inflight_cnt?: number } {
    const conn = t.connected && t.client ? this.broker.connectionStats(t.client) : undefined;
    const queue = t.session.clean_start ? undefined : this.broker.sessionQueue(t.session.clientid);
    const inflight = queue ? queue.inflight : conn && Math.max(0, conn.qos_sent - t.acks);
    const live = conn && { recv_cnt: conn.recv_cnt, recv_pkt: conn.recv_pkt, send_msg: conn.send_msg, send_pkt: conn.send_pkt };
    return { ...live, mqueue_len: queue?.queued ?? 0, ...(inflight !== undefined && { inflight_cnt: inflight }) };
  }

  /** Bytes read and written on the client's socket, when its transport is a socket. */
  static octets(t: TrackedClient): { recv_oct?: number; send_oct?: number; port?: number } {
    const conn = t.client?.conn as Partial<Socket> | undefined;
    if (!conn || typeof conn.bytesRead !== 'number') return {};
    return { recv_oct: conn.bytesRead, send_oct: conn.bytesWritten, port: conn.remotePort };
  }
}
