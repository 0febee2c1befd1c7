import type { Client, Subscription as AedesSubscription } from 'aedes';
import type { AuthService, Principal } from '../auth/service.ts';
import type { BrokerConfig } from '../config/schema.ts';
import type { Ingress } from '../core/ingress.ts';
import { PublishRejected, type IngressMessage, type Qos } from '../core/message.ts';
import type { ClientTable } from './client-state.ts';
import type { PeerLog } from '../core/peer-log.ts';
import type { SessionTable } from './sessions.ts';
import { isShareTopic, parseShare, type SharedSubscriptions } from './shared.ts';
import { markRefused, type SubscriptionBound } from './subscription-bound.ts';

// aedes's access hooks: who may connect (password, session bounds), publish (ACL, then the
// ingress hook, so the PUBACK leaves only once the bridge has the message) and subscribe (ACL,
// shared subscriptions, broker.max_subscriptions). Every refusal a peer can repeat goes through the per-peer rate-limited log.

interface Counter {
  inc(n?: number): void;
}

export interface HooksDeps {
  cfg: BrokerConfig;
  auth: AuthService;
  ingress: Ingress;
  clients: ClientTable;
  sessions: SessionTable;
  peerLog: PeerLog;
  peerInfo: PeerLog;
  /** broker.max_subscriptions per client. */
  subscriptionBound: SubscriptionBound;
  counters: { received: Counter; dropped: Counter; droppedDenied: Counter; refusedSessions: Counter };
  /** broker.persistence disk: a QoS 1 message is on disk before its PUBACK (durable-persistence.ts). */
  beforeAck?(packet: { topic: string; payload: Buffer; qos: number; retain: boolean }, publisher: string): Promise<void>;
}

type ConnectCallback = (err: (Error & { returnCode: number }) | null, ok: boolean | null) => void;
type SubscribeCallback = (err: Error | null, sub?: AedesSubscription | null) => void;

function refusal(message: string, returnCode: number): Error & { returnCode: number } {
  return Object.assign(new Error(message), { returnCode });
}

export class AccessHooks {
  constructor(
    private readonly d: HooksDeps,
    /** Created after the hooks (aedes takes them in its constructor, shared subscriptions take aedes). */
    private readonly late: { shared(): SharedSubscriptions },
  ) {}

  authenticate(client: Client, username: string | undefined, password: Buffer | undefined, cb: ConnectCallback): void {
    const p = this.d.clients.principal(client);
    p.username = username;
    if (this.d.clients.get(client)?.emptyIdPersistent) {
      // A session nobody can resume would only pile up offline messages: refuse before any
      // password check, with CONNACK 0x02 (identifier rejected), and aedes closes [MQTT-3.1.3-8].
      this.d.peerLog.event('client_id_rejected', p.ipaddress, { username }, 'MQTT connect refused: zero-length client id with clean session 0 (CONNACK 2, identifier rejected)');
      return cb(refusal('zero-length client id requires clean session 1', 2), false);
    }
    this.d.auth.authenticate(p, password).then(
      (res) => {
        if (!res.ok) {
          this.d.peerLog.event(res.reason, p.ipaddress, { clientid: client.id, username }, `MQTT connect refused: ${res.detail}`);
          return cb(refusal(res.detail, res.reason === 'bad_username_or_password' ? 4 : res.reason === 'server_unavailable' ? 3 : 5), false);
        }
        this.admit(client, p, cb);
      },
      (err: Error) => cb(Object.assign(err, { returnCode: 3 }), false),
    );
  }

  /** A client with valid credentials: within max_sessions, and a takeover marks the one it replaces. */
  private admit(client: Client, p: Principal, cb: ConnectCallback): void {
    const st = this.d.clients.get(client);
    if (st && !st.clean && !this.d.sessions.mayOpen(client.id)) {
      this.d.counters.refusedSessions.inc();
      this.d.peerLog.event('max_sessions', p.ipaddress, { clientid: client.id, max_sessions: this.d.cfg.max_sessions }, `MQTT connect refused: broker.max_sessions (${this.d.cfg.max_sessions}) persistent sessions exist (CONNACK 3); raise it, or lower broker.session_expiry_interval`);
      return cb(refusal('too many persistent sessions', 3), false);
    }
    // The connected client with this id (our own table, kept from aedes' clientReady/clientDisconnect events).
    const previous = this.d.clients.current.get(client.id);
    if (previous && previous !== client) this.d.clients.setReason(previous, st?.clean ? 'discarded' : 'takenover');
    cb(null, true);
  }

  authorizePublish(client: Client | null, packet: { topic: string; payload: Buffer | string; qos: number; retain: boolean }, cb: (err?: Error | null) => void): void {
    // aedes' will sweep (wills of a gone broker) is the only caller without a client, and it never
    // gets one: restored wills are set aside and published with the ACL by durable-wills.ts. Were
    // one to come, nothing says whose it is: refused rather than published unchecked.
    if (!client) return cb(new Error('a will without its connection is published only by the start-up sweep'));
    if (this.d.clients.stopping) return cb(new Error('the gateway is shutting down'));
    const p = this.d.clients.principal(client);
    if (packet.topic.includes('\u0000')) {
      // [MQTT-1.5.3-2]: a UTF-8 string with U+0000 is malformed; the connection is closed unacknowledged.
      this.d.clients.setReason(client, 'protocol_error');
      this.d.peerLog.event('protocol_error', p.ipaddress, { clientid: client.id }, 'PUBLISH topic contains U+0000: malformed packet, connection closed');
      return cb(new Error('topic contains U+0000'));
    }
    if (isShareTopic(packet.topic) || !this.d.clients.acl(client, this.d.auth).mayPublish(p, packet.topic)) {
      this.d.counters.dropped.inc();
      this.d.counters.droppedDenied.inc();
      this.d.clients.setReason(client, 'not_authorized');
      this.d.peerLog.event('not_authorized', p.ipaddress, { clientid: client.id, topic: packet.topic }, 'publish denied by ACL: message dropped, connection closed');
      return cb(new Error(`publish to ${packet.topic} not authorized`));
    }
    this.ingest(client, p, packet, cb);
  }

  /** The ingress hook (bridge log first): the PUBACK waits for it. */
  private ingest(client: Client, p: Principal, packet: { topic: string; payload: Buffer | string; qos: number; retain: boolean }, cb: (err?: Error | null) => void): void {
    const msg: IngressMessage = {
      topic: packet.topic,
      payload: typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload,
      qos: (packet.qos > 0 ? 1 : 0) as Qos,
      retain: packet.retain,
      origin: 'mqtt',
      clientid: client.id,
    };
    // Only a QoS 1 message can be for the persistent sessions' disk (durable-persistence.ts beforeAck).
    const durable = packet.qos === 1 && typeof packet.payload !== 'string' ? this.d.beforeAck : undefined;
    const accepted = this.d.ingress.accept(msg);
    (durable ? accepted.then(() => durable(packet as { topic: string; payload: Buffer; qos: number; retain: boolean }, client.id)) : accepted).then(
      () => {
        this.d.counters.received.inc();
        cb(null);
      },
      (err: Error) => {
        this.d.counters.dropped.inc();
        const reason = err instanceof PublishRejected ? err.reason : 'internal_error';
        this.d.clients.setReason(client, reason);
        this.d.peerLog.event(reason, p.ipaddress, { clientid: client.id, topic: packet.topic }, `publish not accepted, connection closed so the client retries: ${err.message}`);
        cb(err);
      },
    );
  }

  authorizeSubscribe(client: Client, sub: AedesSubscription, cb: SubscribeCallback): void {
    const p = this.d.clients.principal(client);
    if (sub.topic.includes('\u0000')) {
      this.d.clients.setReason(client, 'protocol_error');
      this.d.peerLog.event('protocol_error', p.ipaddress, { clientid: client.id }, 'SUBSCRIBE filter contains U+0000: malformed packet, connection closed');
      return cb(new Error('topic filter contains U+0000'));
    }
    if (sub.topic.startsWith('$share/') || sub.topic.startsWith('$queue/')) return this.subscribeShared(client, p, sub, cb);
    if (!this.d.auth.maySubscribe(p, sub.topic)) {
      this.d.peerInfo.event('subscribe_denied', p.ipaddress, { clientid: client.id, topic: sub.topic }, 'subscribe denied by ACL (SUBACK 0x80)');
      return this.answer(cb, sub, false);
    }
    this.answer(cb, sub, this.d.subscriptionBound.admit(client, p.ipaddress, sub.topic));
  }

  /**
   * Decided now, answered on the next microtask: aedes asks about every filter of a SUBSCRIBE in
   * one loop and hands the whole packet to the store once the first is granted, so each refusal
   * must be marked (subscription-bound.ts) before any answer lets that happen.
   */
  private answer(cb: SubscribeCallback, sub: AedesSubscription, granted: boolean): void {
    if (!granted) markRefused(sub);
    queueMicrotask(() => cb(null, granted ? sub : null));
  }

  /**
   * A shared subscription: the ACL is asked about the filter inside; the member joins its group
   * (shared.ts), and aedes keeps the literal $share/... subscription, which no publish can match.
   */
  private subscribeShared(client: Client, p: Principal, sub: AedesSubscription, cb: SubscribeCallback): void {
    const share = parseShare(sub.topic);
    if (!share || !this.d.auth.maySubscribe(p, share.filter)) {
      this.d.peerInfo.event('subscribe_denied', p.ipaddress, { clientid: client.id, topic: sub.topic }, share ? 'subscribe denied by ACL (SUBACK 0x80)' : 'malformed shared subscription: $share/{group}/{filter} (SUBACK 0x80)');
      return this.answer(cb, sub, false);
    }
    if (!this.d.subscriptionBound.admit(client, p.ipaddress, sub.topic)) return this.answer(cb, sub, false);
    this.late.shared().subscribe(client, sub.topic, share, sub.qos, !this.d.clients.get(client)?.clean).then(() => cb(null, sub), (err: Error) => cb(err));
  }
}
