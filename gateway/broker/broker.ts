import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { Aedes, type AedesPublishPacket, type Client } from 'aedes';
import type { AuthService } from '../auth/service.ts';
import type { BrokerConfig } from '../config/schema.ts';
import type { Ingress } from '../core/ingress.ts';
import { PublishRejected, type DeliveredMessage, type IngressMessage, type Qos } from '../core/message.ts';
import { listenerErrorLog } from '../core/listen.ts';
import { topicMatches } from '../core/topic.ts';
import type { Logger } from '../log/logger.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { wireClientEvents } from './client-events.ts';
import { ClientTable, type ClientSession, type ClientState } from './client-state.ts';
import { mayForward } from './dollar-guard.ts';
import { guardEmitRecursion } from './emit-guard.ts';
import { AccessHooks } from './hooks.ts';
import { startListeners, type ConnInfo, type RunningListener } from './listeners.ts';
import { DurablePersistence, durableAck } from './durable-persistence.ts';
import { disablePacketNumberCache } from './packet-cache.ts';
import { PeerLog } from '../core/peer-log.ts';
import { Qos0Queue } from './qos0-queue.ts';
import type { BoundedPersistence } from './session-queue.ts';
import { wrapWrites } from './write-path.ts';
import { SessionTable, sessionPersistence } from './sessions.ts';
import { SharedSubscriptions } from './shared.ts';
import { SubscriptionBound } from './subscription-bound.ts';

export type { ClientSession } from './client-state.ts';

export interface BrokerEvents {
  connected: [ClientSession];
  disconnected: [ClientSession, string];
}

export interface BrokerDeps {
  cfg: BrokerConfig;
  auth: AuthService;
  ingress: Ingress;
  metrics: Metrics;
  log: Logger;
  /** Where broker.persistence disk keeps sessions and retained messages (<data_dir>/broker); none: memory. */
  dataDir?: string;
}

/**
 * The internal MQTT broker: aedes with fieldgate's auth, ACL, session queue bound, packet size
 * limit and the ingress hook. Everything that publishes into the gateway goes through `ingress`.
 */
export class Broker extends EventEmitter<BrokerEvents> {
  readonly aedes: Aedes;
  private readonly persistence: BoundedPersistence;
  private readonly clients = new ClientTable();
  private running: RunningListener[] = [];
  private readonly received;
  private readonly sent;
  private readonly dropped;
  private readonly droppedQueueFull;
  private readonly droppedDenied;
  private readonly peerLog: PeerLog;
  /** After the bind (EMFILE on accept...): one line a minute per listener and code, never a crash. */
  private readonly listenerErrors = listenerErrorLog((f, m) => this.deps.log.error(f, m));
  private readonly peerInfo: PeerLog;
  private readonly sessions: SessionTable;
  private readonly expired;
  private sweeper?: NodeJS.Timeout;
  private readonly shared: SharedSubscriptions;
  private readonly qos0?: Qos0Queue;
  private readonly refusedAtAccept;
  /**
   * Asked for every accepted connection before aedes sees it (gateway/limits: bans by address, login
   * backoff); a reason closes the connection at once, without a CONNACK.
   */
  acceptGate?: (info: ConnInfo) => string | undefined;

  constructor(private readonly deps: BrokerDeps) {
    super();
    disablePacketNumberCache(); // process-wide, MQTT.js included: see packet-cache.ts
    const { cfg, metrics } = deps;
    this.peerLog = new PeerLog(deps.log);
    this.peerInfo = new PeerLog(deps.log, 'info');
    this.received = metrics.counter('messages/received');
    // EMQX's messages.sent: PUBLISH packets handed to MQTT clients' connections (after the read ACL).
    this.sent = metrics.counter('messages/sent');
    this.dropped = metrics.counter('messages/dropped');
    this.refusedAtAccept = metrics.counter('connections/refused_at_accept');
    const droppedDenied = (this.droppedDenied = metrics.counter('messages/dropped/not_authorized'));
    this.droppedQueueFull = metrics.counter('messages/dropped/queue_full');
    this.persistence = sessionPersistence(cfg, deps.log, () => {
      this.dropped.inc();
      this.droppedQueueFull.inc();
      return this.droppedQueueFull.value;
    }, deps.dataDir, metrics);
    this.sessions = new SessionTable(cfg.max_sessions, cfg.session_expiry_interval);
    this.expired = metrics.counter('sessions/expired');
    const refusedSessions = metrics.counter('sessions/refused');
    const subscriptionBound = new SubscriptionBound(cfg.max_subscriptions, metrics.counter('subscriptions/refused'), this.peerLog, deps.log, (c) => this.clients.get(c));
    const hooks = new AccessHooks(
      { ...deps, clients: this.clients, sessions: this.sessions, peerLog: this.peerLog, peerInfo: this.peerInfo, subscriptionBound, counters: { received: this.received, dropped: this.dropped, droppedDenied, refusedSessions }, beforeAck: durableAck(this.persistence) },
      { shared: () => this.shared },
    );
    this.aedes = this.createAedes(hooks);
    subscriptionBound.wire(this.aedes);
    this.shared = new SharedSubscriptions(this.aedes, cfg.shared_subscription_strategy, {
      maxInFlight: cfg.max_queued_messages,
      redispatched: metrics.counter('messages/shared/redispatched'),
      dropped: metrics.counter('messages/shared/dropped'),
      store: this.persistence,
      redispatchAfter: cfg.shared_redispatch_after,
      connecting: (id) => this.sessions.isConnecting(id),
    });
    if (this.persistence instanceof DurablePersistence) {
      this.persistence.sharedPick = (msg) => this.shared.prepick(msg); // before the PUBACK
      this.persistence.wills.owner = (c) => this.clients.principal(c as Client); // whose ACL a restored will is published under
    }
    if (cfg.queue_qos0) this.qos0 = new Qos0Queue(this.persistence, (id) => this.sessions.has(id) && !this.clients.current.has(id));
    metrics.gaugeFn('subscriptions/shared/count', () => this.shared.count);
    metrics.gaugeFn('messages/shared/inflight', () => this.shared.inFlight);
    metrics.gaugeFn('connections/count', () => this.aedes.connectedClients);
    metrics.gaugeFn('subscriptions/count', () => this.clients.subscriptionCount());
    metrics.gaugeFn('messages/queued', () => this.persistence.queuedTotal());
    metrics.gaugeFn('messages/queued_bytes', () => this.persistence.totalBytes);
    metrics.gaugeFn('sessions/count', () => this.sessions.size);
    wireClientEvents(this.aedes, {
      ...deps,
      clients: this.clients,
      sessions: this.sessions,
      shared: this.shared,
      qos0: this.qos0,
      connected: (s) => this.emit('connected', s),
      disconnected: (s, reason) => this.emit('disconnected', s, reason),
    });
  }

  private createAedes(hooks: AccessHooks): Aedes {
    const { cfg } = this.deps;
    return new Aedes({
      id: 'fieldgate',
      persistence: this.persistence,
      connectTimeout: cfg.connect_timeout,
      preConnect: (client, packet, cb) => {
        const st = this.clients.get(client);
        if (st) {
          st.username = packet.username;
          st.keepalive = packet.keepalive ?? 0;
          st.clean = packet.clean !== false;
          st.emptyIdPersistent = !packet.clientId && packet.clean === false;
        }
        cb(null, !this.clients.stopping);
      },
      authenticate: (client, username, password, cb) => hooks.authenticate(client, username, password, cb),
      authorizePublish: (client, packet, cb) => hooks.authorizePublish(client, packet, cb),
      authorizeSubscribe: (client, sub, cb) => hooks.authorizeSubscribe(client, sub, cb),
      // Read permission is checked per message, live and from the offline queue, so a
      // subscription that overlaps a deny rule is granted and the denied topics never delivered.
      // Retained $ topics go only to filters that match them under [MQTT-4.7.2-1] (dollar-guard.ts).
      authorizeForward: (client, packet) => {
        // Not now: a retained copy older than what the client got live, or a copy its queue sends (session-queue.ts mayWrite).
        if (!this.persistence.mayWrite(client, packet)) return null;
        if (!this.clients.acl(client, this.deps.auth).mayRead(this.clients.principal(client), packet.topic) || !mayForward(packet.topic, packet.retain, this.clients.subs.get(client.id))) return null;
        const st = this.clients.get(client);
        if (st) st.forwarded++;
        this.sent.inc();
        return packet;
      },
    });
  }

  /** Ends persistent sessions offline for longer than session_expiry_interval (EMQX's default: 2 h). */
  private sweep(): void {
    const gone = this.sessions.takeExpired();
    if (!gone.length) return;
    for (const id of gone) {
      this.clients.subs.delete(id);
      this.shared.forgetSession(id);
      this.qos0?.forget(id);
      this.persistence.cleanSubscriptions({ id }).catch((err: Error) => this.deps.log.warn({ clientid: id, err: err.message }, 'expired session: removing its subscriptions failed'));
    }
    this.expired.inc(gone.length);
    this.deps.log.info({ expired: gone.length, session_expiry_interval: this.deps.cfg.session_expiry_interval }, `${gone.length} persistent sessions expired (offline longer than broker.session_expiry_interval): subscriptions and queued messages removed`);
  }

  async start(): Promise<RunningListener[]> {
    const expiry = this.deps.cfg.session_expiry_interval;
    if (expiry > 0) {
      this.sweeper = setInterval(() => this.sweep(), Math.max(50, Math.min(expiry / 2, 60_000)));
      this.sweeper.unref();
    }
    await this.aedes.listen(); // replays the session store (broker.persistence disk) before any listener opens
    await guardEmitRecursion(this.aedes);
    this.restoreSessions();
    if (this.persistence instanceof DurablePersistence) this.persistence.wills.holdRestored(); // published by publishRestoredWills
    this.running = await startListeners(this.deps.cfg.listeners, (stream, info) => this.handle(stream, info), this.listenerErrors);
    return this.running;
  }

  /**
   * The wills the last run owes (durable-wills.ts), once the bridge is up (gateway.ts): through the
   * ACL under their owner's principal and the ingress hooks (bridge log), like any publish.
   */
  publishRestoredWills(): Promise<number> {
    if (!(this.persistence instanceof DurablePersistence)) return Promise.resolve(0);
    return this.persistence.publishRestoredWills({
      mayPublish: (p, topic) => this.deps.auth.authorize(p, 'publish', topic),
      accept: (msg) => this.deps.ingress.accept(msg).then(() => this.received.inc()),
      publish: (will) => new Promise((resolve) => this.aedes.publish(will as AedesPublishPacket, () => resolve())),
      // As authorizePublish counts a live publish it refuses (hooks.ts).
      dropped: (reason) => {
        this.dropped.inc();
        if (reason === 'not_authorized') this.droppedDenied.inc();
      },
    });
  }

  /** Persistent sessions read back from disk: offline until their client reconnects. */
  private restoreSessions(): void {
    if (!(this.persistence instanceof DurablePersistence)) return;
    for (const { clientId, subs } of this.persistence.restoredSessions) {
      this.sessions.restored(clientId);
      this.shared.restored(clientId, subs);
      this.clients.subs.set(clientId, new Set(subs.map((s) => s.topic)));
      for (const s of subs) this.qos0?.subscribed(clientId, s.topic, s.qos);
    }
  }

  /** Serves one connection from any transport (TCP, TLS, WebSocket, or a test's duplex pair). */
  handle(stream: Duplex, info: ConnInfo): void {
    if (this.acceptGate?.(info)) {
      // Refused before aedes: no client set-up, no CONNACK to write (the gate logged why).
      this.refusedAtAccept.inc();
      stream.destroy();
      return;
    }
    const client = this.aedes.handle(stream);
    // One state object per connection (client-state.ts) and no closure: the 'data' listener and the
    // PUBACK/PUBREC callback are the broker's, shared by every connection.
    const st = this.clients.add(client, info, this.deps.cfg.max_packet_size, this.acked);
    st.outbound = wrapWrites(stream);
    // aedes pulls with read() on 'readable'; a 'data' listener then sees exactly the chunks it
    // reads, so the size check runs before the parser buffers a whole oversize frame.
    stream.on('data', this.onData);
  }

  /** A shared subscription member's PUBACK/PUBREC (frame-guard.ts reads their packet ids). */
  private readonly acked = (id: number, st: ClientState): void => {
    if (st.client.id) this.shared.acked(st.client.id, id);
  };

  /** Every connection's 'data' listener (`this`: its stream). */
  private readonly onData = ((broker: Broker) =>
    function onData(this: Duplex, chunk: Buffer): void {
      broker.read(this, chunk);
    })(this);

  private read(stream: Duplex, chunk: Buffer): void {
    const st = this.clients.ofStream(stream);
    if (!st) return;
    st.reads++;
    const size = st.feed(chunk);
    if (size === 0) return;
    st.reason = 'frame_too_large';
    const { max_packet_size } = this.deps.cfg;
    this.peerLog.event(size < 0 ? 'malformed_length' : 'frame_too_large', st.info.ipaddress, { clientid: st.client.id, size, max_packet_size }, size < 0 ? 'malformed MQTT length: closing the connection' : 'packet exceeds broker.max_packet_size: closing the connection');
    stream.destroy();
  }

  /** Publishes from inside the gateway (adapters, bridge downlinks) through the same ingress path. */
  async publish(msg: IngressMessage): Promise<void> {
    await this.deps.ingress.accept(msg);
    this.received.inc();
    await new Promise<void>((resolve, reject) => {
      // MQTT 5 properties ride along to in-process subscribers (aedes speaks 3.1.1 on the wire).
      const properties = msg.messageExpiryInterval === undefined ? undefined : { messageExpiryInterval: msg.messageExpiryInterval };
      this.aedes.publish({ cmd: 'publish', topic: msg.topic, payload: msg.payload, qos: msg.qos, retain: msg.retain, dup: false, ...(properties && { properties }) }, (err) =>
        err ? reject(new PublishRejected('unavailable', `broker refused the message: ${err.message}`)) : resolve(),
      );
    });
  }

  /**
   * Publishes a gateway-generated message ($SYS) that no hook needs to see. Retained ones reach only
   * filters that match `$` topics under [MQTT-4.7.2-1] (see authorizeForward). `done` runs once the
   * message has been handed to every subscriber's connection.
   */
  publishSys(topic: string, payload: string, retain = false, done: () => void = () => {}): void {
    if (this.aedes.closed) return done();
    this.aedes.publish({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 0, retain, dup: false }, () => done());
  }

  /** An in-process subscription. Returns the function that removes it. */
  async subscribe(filter: string, onMessage: (m: DeliveredMessage) => void): Promise<() => Promise<void>> {
    const deliver = (packet: AedesPublishPacket, done: () => void) => {
      // aedes's internal bus matches "#" against $SYS topics too; MQTT clients are protected by
      // aedes itself, in-process subscribers by this check [MQTT-4.7.2-1].
      if (packet.topic.startsWith('$') && !topicMatches(filter, packet.topic)) return done();
      try {
        const expiry = packet.properties?.messageExpiryInterval;
        onMessage({ topic: packet.topic, payload: Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload), qos: (packet.qos > 0 ? 1 : 0) as Qos, retain: packet.retain, ...(expiry !== undefined && { messageExpiryInterval: expiry }) });
      } finally {
        done();
      }
    };
    await new Promise<void>((resolve) => this.aedes.subscribe(filter, deliver, resolve));
    return () => new Promise<void>((resolve) => this.aedes.unsubscribe(filter, deliver, resolve));
  }

  /** A connection's counters in EMQX's names (the management API's client object); qos_sent: QoS 1/2 PUBLISH sent, not retransmitted. */
  connectionStats(client: Client): { recv_cnt: number; recv_pkt: number; send_msg: number; send_pkt: number; qos_sent: number } | undefined {
    const st = this.clients.get(client);
    return st && { recv_cnt: st.reads, recv_pkt: st.frames, send_msg: st.forwarded, send_pkt: st.outbound?.frames ?? 0, qos_sent: st.outbound?.qosPublishes ?? 0 };
  }

  /**
   * A persistent session's outgoing queue (aedes keeps none for a clean session): messages waiting
   * to be sent, and QoS 1/2 messages sent and not yet acknowledged.
   */
  sessionQueue(clientid: string): { queued: number; inflight: number } {
    return this.persistence.queueOf(clientid);
  }

  /** Disconnects a client as an operator's kick (EMQX reason `kicked`). */
  kick(client: Client): void {
    this.clients.setReason(client, 'kicked');
    client.close();
  }

  get ports(): Record<string, number> {
    return Object.fromEntries(this.running.map((l) => [l.name, l.port]));
  }

  /**
   * Closes the listeners and every network client, so no new publish is acknowledged; in-process
   * publishers (adapters stopping, the bridge) can still use the broker until stop().
   */
  async stopAccepting(): Promise<void> {
    this.clients.stopping = true;
    await Promise.all(this.running.map((l) => l.close()));
    this.running = [];
  }

  async stop(): Promise<void> {
    clearInterval(this.sweeper);
    this.shared.close();
    await this.stopAccepting();
    this.peerLog.flush();
    this.peerInfo.flush();
    await new Promise<void>((resolve) => this.aedes.close(() => resolve()));
    if (this.persistence instanceof DurablePersistence) await this.persistence.close();
  }
}
