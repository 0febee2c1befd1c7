import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { Aedes, type Client, type Subscription as AedesSubscription, type AedesPublishPacket } from 'aedes';
import type { AuthService, Principal } from '../auth/service.ts';
import type { BrokerConfig } from '../config/schema.ts';
import type { Ingress } from '../core/ingress.ts';
import { PublishRejected, type DeliveredMessage, type IngressMessage, type Qos } from '../core/message.ts';
import { listenerErrorLog } from '../core/listen.ts';
import { topicMatches } from '../core/topic.ts';
import type { Logger } from '../log/logger.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { mayForward } from './dollar-guard.ts';
import { FrameTracker } from './frame-guard.ts';
import { PeerLog } from './peer-log.ts';
import { startListeners, type ConnInfo, type RunningListener } from './listeners.ts';
import type { BoundedPersistence } from './session-queue.ts';
import { SessionTable, sessionPersistence } from './sessions.ts';
import { isShareTopic, parseShare, SharedSubscriptions } from './shared.ts';
import { autoSubscribe } from './auto-subscribe.ts';
import { Qos0Queue } from './qos0-queue.ts';
import { disablePacketNumberCache } from './packet-cache.ts';


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

export interface BrokerEvents {
  connected: [ClientSession];
  disconnected: [ClientSession, string];
}

interface ClientState {
  info: ConnInfo;
  username?: string;
  keepalive: number;
  clean: boolean;
  /** CONNECT carried a zero-length client id with clean session 0 [MQTT-3.1.3-8]. */
  emptyIdPersistent?: boolean;
  reason?: string;
  session?: ClientSession;
}

export interface BrokerDeps {
  cfg: BrokerConfig;
  auth: AuthService;
  ingress: Ingress;
  metrics: Metrics;
  log: Logger;
}

/**
 * The internal MQTT broker: aedes with fieldgate's auth, ACL, session queue bound, packet size
 * limit and the ingress hook. Everything that publishes into the gateway goes through `ingress`.
 */
export class Broker extends EventEmitter<BrokerEvents> {
  readonly aedes: Aedes;
  private readonly persistence: BoundedPersistence;
  private readonly clients = new WeakMap<Client, ClientState>();
  private readonly subs = new Map<string, Set<string>>();
  private running: RunningListener[] = [];
  private stopping = false;
  private readonly received;
  private readonly dropped;
  private readonly droppedDenied;
  private readonly droppedQueueFull;
  private readonly peerLog: PeerLog;
  /** After the bind (EMFILE on accept...): one line a minute per listener and code, never a crash. */
  private readonly listenerErrors = listenerErrorLog((f, m) => this.deps.log.error(f, m));
  private readonly peerInfo: PeerLog;
  private readonly sessions: SessionTable;
  /** The connected client per client id (a takeover replaces it before the old one is gone). */
  private readonly current = new Map<string, Client>();
  private readonly expired;
  private readonly refusedSessions;
  private sweeper?: NodeJS.Timeout;
  private readonly shared: SharedSubscriptions;
  private readonly qos0?: Qos0Queue;

  constructor(private readonly deps: BrokerDeps) {
    super();
    disablePacketNumberCache(); // process-wide, MQTT.js included: see packet-cache.ts
    const { cfg, metrics } = deps;
    this.peerLog = new PeerLog(deps.log);
    this.peerInfo = new PeerLog(deps.log, 'info');
    this.received = metrics.counter('messages/received');
    this.dropped = metrics.counter('messages/dropped');
    this.droppedDenied = metrics.counter('messages/dropped/not_authorized');
    this.droppedQueueFull = metrics.counter('messages/dropped/queue_full');
    this.persistence = sessionPersistence(cfg, deps.log, () => {
      this.dropped.inc();
      this.droppedQueueFull.inc();
      return this.droppedQueueFull.value;
    });
    this.sessions = new SessionTable(cfg.max_sessions, cfg.session_expiry_interval);
    this.expired = metrics.counter('sessions/expired');
    this.refusedSessions = metrics.counter('sessions/refused');
    this.aedes = new Aedes({
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
        cb(null, !this.stopping);
      },
      authenticate: (client, username, password, cb) => this.authenticate(client, username, password, cb),
      authorizePublish: (client, packet, cb) => this.authorizePublish(client, packet, cb),
      authorizeSubscribe: (client, sub, cb) => this.authorizeSubscribe(client, sub, cb),
      // Read permission is checked per message, live and from the offline queue, so a
      // subscription that overlaps a deny rule is granted and the denied topics never delivered.
      // Retained $ topics go only to filters that match them under [MQTT-4.7.2-1] (dollar-guard.ts).
      authorizeForward: (client, packet) =>
        this.deps.auth.mayRead(this.principal(client), packet.topic) && mayForward(packet.topic, packet.retain, this.subs.get(client.id)) ? packet : null,
    });
    this.shared = new SharedSubscriptions(this.aedes, cfg.shared_subscription_strategy);
    if (cfg.queue_qos0) this.qos0 = new Qos0Queue(this.persistence, (id) => this.sessions.has(id) && !this.current.has(id));
    metrics.gaugeFn('subscriptions/shared/count', () => this.shared.count);
    metrics.gaugeFn('connections/count', () => this.aedes.connectedClients);
    metrics.gaugeFn('subscriptions/count', () => {
      let n = 0;
      for (const s of this.subs.values()) n += s.size;
      return n;
    });
    metrics.gaugeFn('messages/queued', () => this.persistence.queuedTotal());
    metrics.gaugeFn('messages/queued_bytes', () => this.persistence.totalBytes);
    metrics.gaugeFn('sessions/count', () => this.sessions.size);
    this.wireEvents();
  }

  /** Ends persistent sessions offline for longer than session_expiry_interval (EMQX's default: 2 h). */
  private sweep(): void {
    const gone = this.sessions.takeExpired();
    if (!gone.length) return;
    for (const id of gone) {
      this.subs.delete(id);
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
    await this.aedes.listen();
    this.running = await startListeners(this.deps.cfg.listeners, (stream, info) => this.handle(stream, info), this.listenerErrors);
    return this.running;
  }

  /** Serves one connection from any transport (TCP, TLS, WebSocket, or a test's duplex pair). */
  handle(stream: Duplex, info: ConnInfo): void {
    const client = this.aedes.handle(stream);
    this.clients.set(client, { info, keepalive: 0, clean: true });
    // aedes pulls with read() on 'readable'; a 'data' listener then sees exactly the chunks it
    // reads, so the size check runs before the parser buffers a whole oversize frame.
    const tracker = new FrameTracker(this.deps.cfg.max_packet_size);
    stream.on('data', (chunk: Buffer) => {
      const size = tracker.feed(chunk);
      if (size === 0) return;
      const st = this.clients.get(client);
      if (st) st.reason = 'frame_too_large';
      this.peerLog.event(size < 0 ? 'malformed_length' : 'frame_too_large', info.ipaddress, { clientid: client.id, size, max_packet_size: this.deps.cfg.max_packet_size }, size < 0 ? 'malformed MQTT length: closing the connection' : 'packet exceeds broker.max_packet_size: closing the connection');
      stream.destroy();
    });
  }

  private principal(client: Client): Principal {
    const st = this.clients.get(client);
    return { clientid: client.id, username: st?.username, ipaddress: st?.info.ipaddress, protocol: 'mqtt', listener: st?.info.listener };
  }

  private authenticate(client: Client, username: string | undefined, password: Buffer | undefined, cb: (err: (Error & { returnCode: number }) | null, ok: boolean | null) => void): void {
    const p = this.principal(client);
    p.username = username;
    if (this.clients.get(client)?.emptyIdPersistent) {
      // A session nobody can resume would only pile up offline messages: refuse before any
      // password check, with CONNACK 0x02 (identifier rejected), and aedes closes [MQTT-3.1.3-8].
      this.peerLog.event('client_id_rejected', p.ipaddress, { username }, 'MQTT connect refused: zero-length client id with clean session 0 (CONNACK 2, identifier rejected)');
      return cb(Object.assign(new Error('zero-length client id requires clean session 1'), { returnCode: 2 }), false);
    }
    this.deps.auth.authenticate(p, password).then(
      (res) => {
        if (res.ok) {
          const st = this.clients.get(client);
          if (st && !st.clean && !this.sessions.mayOpen(client.id)) {
            this.refusedSessions.inc();
            this.peerLog.event('max_sessions', p.ipaddress, { clientid: client.id, max_sessions: this.deps.cfg.max_sessions }, `MQTT connect refused: broker.max_sessions (${this.deps.cfg.max_sessions}) persistent sessions exist (CONNACK 3); raise it, or lower broker.session_expiry_interval`);
            return cb(Object.assign(new Error('too many persistent sessions'), { returnCode: 3 }), false);
          }
          const previous = (this.aedes as unknown as { clients: Record<string, Client> }).clients[client.id];
          const prevState = previous && previous !== client ? this.clients.get(previous) : undefined;
          if (prevState) prevState.reason = this.clients.get(client)?.clean ? 'discarded' : 'takenover';
          return cb(null, true);
        }
        this.peerLog.event(res.reason, p.ipaddress, { clientid: client.id, username }, `MQTT connect refused: ${res.detail}`);
        const err = Object.assign(new Error(res.detail), { returnCode: res.reason === 'bad_username_or_password' ? 4 : res.reason === 'server_unavailable' ? 3 : 5 });
        cb(err, false);
      },
      (err: Error) => cb(Object.assign(err, { returnCode: 3 }), false),
    );
  }

  private authorizePublish(client: Client | null, packet: { topic: string; payload: Buffer | string; qos: number; retain: boolean }, cb: (err?: Error | null) => void): void {
    if (!client) return cb(null); // a stored will of a client from an earlier run
    if (this.stopping) return cb(new Error('the gateway is shutting down'));
    const p = this.principal(client);
    if (packet.topic.includes('\u0000')) {
      // [MQTT-1.5.3-2]: a UTF-8 string with U+0000 is malformed; the connection is closed unacknowledged.
      const st = this.clients.get(client);
      if (st) st.reason = 'protocol_error';
      this.peerLog.event('protocol_error', p.ipaddress, { clientid: client.id }, 'PUBLISH topic contains U+0000: malformed packet, connection closed');
      return cb(new Error('topic contains U+0000'));
    }
    if (isShareTopic(packet.topic) || !this.deps.auth.authorize(p, 'publish', packet.topic)) {
      this.dropped.inc();
      this.droppedDenied.inc();
      const st = this.clients.get(client);
      if (st) st.reason = 'not_authorized';
      this.peerLog.event('not_authorized', p.ipaddress, { clientid: client.id, topic: packet.topic }, 'publish denied by ACL: message dropped, connection closed');
      return cb(new Error(`publish to ${packet.topic} not authorized`));
    }
    const msg: IngressMessage = {
      topic: packet.topic,
      payload: typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload,
      qos: (packet.qos > 0 ? 1 : 0) as Qos,
      retain: packet.retain,
      origin: 'mqtt',
      clientid: client.id,
    };
    this.deps.ingress.accept(msg).then(
      () => {
        this.received.inc();
        cb(null);
      },
      (err: Error) => {
        this.dropped.inc();
        const reason = err instanceof PublishRejected ? err.reason : 'internal_error';
        const st = this.clients.get(client);
        if (st) st.reason = reason;
        this.peerLog.event(reason, p.ipaddress, { clientid: client.id, topic: packet.topic }, `publish not accepted, connection closed so the client retries: ${err.message}`);
        cb(err);
      },
    );
  }

  private authorizeSubscribe(client: Client, sub: AedesSubscription, cb: (err: Error | null, sub?: AedesSubscription | null) => void): void {
    const p = this.principal(client);
    if (sub.topic.includes('\u0000')) {
      const st = this.clients.get(client);
      if (st) st.reason = 'protocol_error';
      this.peerLog.event('protocol_error', p.ipaddress, { clientid: client.id }, 'SUBSCRIBE filter contains U+0000: malformed packet, connection closed');
      return cb(new Error('topic filter contains U+0000'));
    }
    if (sub.topic.startsWith('$share/') || sub.topic.startsWith('$queue/')) return this.subscribeShared(client, p, sub, cb);
    if (this.deps.auth.maySubscribe(p, sub.topic)) return cb(null, sub);
    this.peerInfo.event('subscribe_denied', p.ipaddress, { clientid: client.id, topic: sub.topic }, 'subscribe denied by ACL (SUBACK 0x80)');
    cb(null, null);
  }

  /**
   * A shared subscription: the ACL is asked about the filter inside; the member joins its group
   * (shared.ts), and aedes keeps the literal $share/... subscription, which no publish can match.
   */
  private subscribeShared(client: Client, p: Principal, sub: AedesSubscription, cb: (err: Error | null, sub?: AedesSubscription | null) => void): void {
    const share = parseShare(sub.topic);
    if (!share || !this.deps.auth.maySubscribe(p, share.filter)) {
      this.peerInfo.event('subscribe_denied', p.ipaddress, { clientid: client.id, topic: sub.topic }, share ? 'subscribe denied by ACL (SUBACK 0x80)' : 'malformed shared subscription: $share/{group}/{filter} (SUBACK 0x80)');
      return cb(null, null);
    }
    this.shared.subscribe(client, sub.topic, share, sub.qos, !this.clients.get(client)?.clean).then(() => cb(null, sub), (err: Error) => cb(err));
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

  private wireEvents(): void {
    const a = this.aedes;
    a.on('clientReady', (client) => {
      const st = this.clients.get(client);
      if (!st) return;
      this.current.set(client.id, client);
      autoSubscribe(client, this.principal(client), this.deps.cfg.auto_subscribe, this.deps.log);
      this.shared.connected(client, st.clean);
      if (st.clean) this.qos0?.forget(client.id);
      if (st.clean) this.sessions.forget(client.id);
      else this.sessions.online(client.id);
      st.session = {
        clientid: client.id,
        username: st.username,
        ipaddress: st.info.ipaddress,
        sockport: st.info.sockport,
        peerport: st.info.peerport,
        protocol: 'mqtt',
        proto_name: client.version === 3 ? 'MQIsdp' : 'MQTT',
        proto_ver: client.version,
        keepalive: st.keepalive,
        clean_start: st.clean,
        connected_at: Date.now(),
        listener: st.info.listener,
      };
      this.emit('connected', st.session);
    });
    a.on('publish', (packet) => {
      this.qos0?.published(packet).catch((err: Error) => this.deps.log.warn({ topic: packet.topic, err: err.message }, 'queue_qos0: queueing for offline sessions failed'));
    });
    a.on('keepaliveTimeout', (client) => {
      const st = this.clients.get(client);
      if (st) st.reason = 'keepalive_timeout';
    });
    a.on('clientError', (client, err) => {
      const st = this.clients.get(client);
      if (st && !st.reason) st.reason = errorReason(err);
      this.deps.log.debug({ clientid: client.id, err: err.message }, 'client error');
    });
    a.on('subscribe', (subs, client) => {
      let set = this.subs.get(client.id);
      if (!set) this.subs.set(client.id, (set = new Set()));
      for (const s of subs) set.add(s.topic);
      if (this.qos0 && !this.clients.get(client)?.clean) for (const s of subs) this.qos0.subscribed(client.id, s.topic, s.qos);
    });
    a.on('unsubscribe', (topics, client) => {
      const set = this.subs.get(client.id);
      for (const t of topics) {
        set?.delete(t);
        this.shared.unsubscribed(client.id, t);
        this.qos0?.unsubscribed(client.id, t);
      }
    });
    a.on('clientDisconnect', (client) => {
      const st = this.clients.get(client);
      if (this.current.get(client.id) === client) {
        this.current.delete(client.id);
        this.shared.leave(client.id);
        if (st && !st.clean) this.sessions.offline(client.id);
      }
      if (!st?.session) return;
      if (st.clean) this.subs.delete(client.id);
      // aedes marks a client that sent DISCONNECT; it has no public accessor for it.
      const sentDisconnect = (client as unknown as { _disconnected?: boolean })._disconnected === true;
      const reason = st.reason ?? (sentDisconnect ? 'normal' : this.stopping ? 'server_shutting_down' : 'tcp_closed');
      this.emit('disconnected', st.session, reason);
    });
  }

  /** Disconnects a client as an operator's kick (EMQX reason `kicked`). */
  kick(client: Client): void {
    const st = this.clients.get(client);
    if (st) st.reason = 'kicked';
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
    this.stopping = true;
    await Promise.all(this.running.map((l) => l.close()));
    this.running = [];
  }

  async stop(): Promise<void> {
    clearInterval(this.sweeper);
    await this.stopAccepting();
    this.peerLog.flush();
    this.peerInfo.flush();
    await new Promise<void>((resolve) => this.aedes.close(() => resolve()));
  }
}

/** EMQX's disconnect reason for an error aedes reports on a client. */
function errorReason(err: Error & { code?: string }): string {
  if (err.code === 'ECONNRESET' || err.code === 'EPIPE' || err.code === 'ETIMEDOUT') return 'tcp_closed';
  if (/keep ?alive/i.test(err.message)) return 'keepalive_timeout';
  return 'protocol_error';
}
