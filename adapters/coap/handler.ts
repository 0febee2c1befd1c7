// The CoAP request handler: routes a request by its URI (uri.ts) to publish, observe, the
// connection resource or /.well-known/core, and answers with EMQX's codes. It never throws into
// the engine: anything unexpected becomes an empty 5.00 and a log line.
import type { AdapterContext, AuthResult, DeviceIdentity } from '../../gateway/core/adapter.ts';
import { deviceIp } from '../../gateway/core/identity.ts';
import { RateLimitedLog, moreLine, moreSuffix } from '../../gateway/core/log-limit.ts';
import { PeerLog } from '../../gateway/core/peer-log.ts';
import { PublishRejected } from '../../gateway/core/message.ts';
import { invalidTopicFilter, invalidTopicName } from '../../gateway/core/topic.ts';
import { szxFor, uintOption, type CoapEndpoint, type CoapOption, type CoapReply, type CoapRequest, type Peer, type Respond } from '../lib/coap/index.ts';
import type { CoapConfig } from './config.ts';
import { Observers } from './observers.ts';
import { AuthCache, Sessions, addressText, deviceOf, hostText, type Session } from './sessions.ts';
import { mount, parsePath, parseQuery, resolveExpiry, resolveQos, resolveRetain, type Query, type Route } from './uri.ts';

type Reply = { code: string; message?: string; options?: [string, Buffer][]; payload?: Buffer };

const REJECT_CODES: Record<string, string> = { not_authorized: '4.01', invalid_topic: '4.00', too_large: '4.13', queue_full: '5.03', unavailable: '5.03' };

interface Exchange {
  req: CoapRequest;
  server: CoapEndpoint;
  peer: Peer;
  route: Route;
  query: Query;
  confirmable: boolean;
  /** The datagram transport the request came through (a modem's socket), when not a UDP listener. */
  via?: string;
}

export class CoapHandler {
  private readonly counters;
  /** One warning per address and reason per minute: a device retrying bad credentials cannot flood the log. */
  private readonly refusedLog: RateLimitedLog;
  /** Session lines a device repeats by rebinding or by opening sessions it leaves: one per IP and reason per minute, then "... and N more". */
  private readonly peerInfo: PeerLog;

  constructor(
    private readonly cfg: CoapConfig,
    private readonly ctx: AdapterContext,
    readonly sessions: Sessions,
    readonly observers: Observers,
    private readonly auth: AuthCache,
  ) {
    this.counters = { received: ctx.metrics.counter('messages/received'), authFailed: ctx.metrics.counter('auth/failed') };
    this.refusedLog = new RateLimitedLog({
      intervalMs: 60_000,
      write: (fields, msg) => ctx.log.warn(fields, msg),
      flush: (n, key) => ({ fields: { refused: n, address: key.split('|')[0] }, msg: moreLine(n, `CoAP logins refused from ${key.split('|')[0]} (${key.split('|')[1]})`, 60_000) }),
    });
    this.peerInfo = new PeerLog(ctx.log, 'info');
  }

  /** Writes out the refusals held back by the rate limit (on stop). */
  flushLog(): void {
    this.refusedLog.flushAll();
    this.peerInfo.flush();
  }

  private refused(ex: Exchange, clientid: string, username: string | undefined, r: Extract<AuthResult, { ok: false }>): void {
    this.counters.authFailed.inc();
    const address = hostText(ex.peer);
    this.refusedLog.event(`${address}|${r.reason}`, (more) => ({
      fields: { clientid, username, address: addressText(ex.peer), reason: r.reason },
      msg: `CoAP device ${clientid} from ${addressText(ex.peer)} refused: ${r.detail}${moreSuffix(more, 60_000)}`,
    }));
  }

  /** The engine's request handler for one transport's endpoint. */
  handle(server: CoapEndpoint, req: CoapRequest, respond: Respond, via?: string): void {
    const send = (r: Reply) => {
      const options: CoapOption[] = (r.options ?? []).map(([name, value]) => ({ name, value }));
      const reply: CoapReply = { code: r.code, options, payload: r.payload ?? (r.message ? Buffer.from(r.message) : undefined) };
      respond(reply);
    };
    const ex: Exchange = { req, server, peer: req.peer, route: parsePath(req.path, { legacy: this.cfg.legacy }), query: parseQuery(req.query), confirmable: req.confirmable, via };
    this.route(ex).then(send, (err: Error) => {
      this.ctx.log.error({ err: err.message, peer: addressText(ex.peer), method: req.method }, 'CoAP request failed');
      send({ code: '5.00' });
    });
  }

  private async route(ex: Exchange): Promise<Reply> {
    const m = ex.req.method;
    switch (ex.route.kind) {
      case 'wellknown':
        if (m !== 'GET') return { code: '4.05' };
        return { code: '2.05', options: [['Content-Format', Buffer.from([40])]], payload: Buffer.from(this.links()) };
      case 'unknown':
        return { code: '4.04', message: 'Not Found: use /ps/{topic} or /mqtt/connection' };
      case 'connection':
        return this.connection(ex);
      case 'ps': {
        const who = await this.identify(ex);
        if ('code' in who) return who;
        if (m === 'POST') return this.publish(ex, ex.route.topic, who, resolveQos(ex.query.qos, this.cfg.publish_qos, ex.confirmable));
        if (m === 'GET') return this.observe(ex, ex.route.topic, who);
        return { code: '4.05', message: 'Method Not Allowed: POST publishes, GET observes' };
      }
      case 'legacy': {
        if (!ex.query.clientid) return { code: '4.00', message: 'Bad Request: c (clientid) is required' };
        const who = await this.authenticate(ex);
        if ('code' in who) return who;
        // 4.x published with QoS 0 unless told otherwise.
        if (m === 'PUT') return this.publish(ex, ex.route.topic, who, resolveQos(ex.query.qos, 'qos0', ex.confirmable));
        if (m === 'GET') {
          if (ex.req.observe === undefined) return { code: '2.05' }; // 4.x keep-alive ping
          return this.observe(ex, ex.route.topic, who);
        }
        return { code: '4.05', message: 'Method Not Allowed: PUT publishes, GET observes' };
      }
    }
  }

  private links(): string {
    const l = ['</ps>;rt="core.ps";ct=0', '</mqtt/connection>'];
    if (this.cfg.legacy) l.push('</mqtt>');
    return l.join(',');
  }

  /** The device behind a /ps request: its session in connection mode, else its query credentials. */
  private async identify(ex: Exchange): Promise<DeviceIdentity | Reply> {
    if (!this.cfg.connection_required) return this.authenticate(ex);
    const c = this.sessions.check(ex.query.clientid, ex.query.token);
    if (!c.ok) return { code: c.code, message: c.message };
    this.follow(c.session, ex);
    return c.session.device;
  }

  /**
   * A session's request (/ps, the heartbeat PUT, DELETE) from a new address takes the session over:
   * NAT rebinding is normal for NB-IoT, so the session and its observations follow the device.
   */
  private follow(s: Session, ex: Exchange): void {
    if (this.sessions.touch(s, ex.server, ex.peer, ex.via)) {
      this.peerInfo.event('address_changed', deviceIp(s.device), { clientid: s.clientid, address: s.device.address }, 'CoAP session taken over from a new address');
      this.observers.moveClient(s.clientid, ex.server, ex.peer);
    }
    this.ctx.messages.deviceSeen(s.device);
  }

  private async authenticate(ex: Exchange): Promise<DeviceIdentity | Reply> {
    const { clientid, username, password } = ex.query;
    // Without c=, the device is its IP address (not ip:port): NAT port churn must not mint devices.
    const device = deviceOf(clientid || hostText(ex.peer), ex.peer, username, ex.via);
    const r = await this.auth.check(ex.peer.address, device.id, username, password, () => this.ctx.messages.authenticate(device, password));
    if (!r.ok) {
      this.refused(ex, device.id, username, r);
      return { code: '4.01', message: `Unauthorized: ${r.reason}` };
    }
    return device;
  }

  private async publish(ex: Exchange, topic: string, device: DeviceIdentity, qos: ReturnType<typeof resolveQos>): Promise<Reply> {
    if (typeof qos === 'object') return { code: '4.00', message: qos.error };
    const expiry = resolveExpiry(ex.query.expiry);
    if (typeof expiry === 'object') return { code: '4.00', message: expiry.error };
    const mounted = mount(this.cfg.mountpoint, topic);
    const bad = topic === '' ? 'empty topic' : invalidTopicName(mounted);
    if (bad) return { code: '4.00', message: `invalid topic: ${bad}` };
    const body = this.reassemble(ex);
    if ('code' in body) return body;
    try {
      await this.ctx.messages.publish({ topic: mounted, payload: body.payload, qos, retain: resolveRetain(ex.query.retain), device });
    } catch (err) {
      if (!(err instanceof PublishRejected)) throw err;
      this.ctx.metrics.counter('rejected/{reason}', { reason: err.reason }).inc();
      return { code: REJECT_CODES[err.reason] ?? '5.00', message: err.reason, options: err.reason === 'queue_full' || err.reason === 'unavailable' ? [['Max-Age', uintOption(5)]] : [] };
    }
    this.counters.received.inc();
    return { code: '2.04' };
  }

  /** The request body (the engine has reassembled a Block1 upload already). */
  private reassemble(ex: Exchange): { payload: Buffer } | Reply {
    const payload = ex.req.payload;
    return payload.length > this.cfg.blockwise.max_body_size ? { code: '4.13', options: [['Size1', uintOption(this.cfg.blockwise.max_body_size)]] } : { payload };
  }

  private async observe(ex: Exchange, topic: string, device: DeviceIdentity): Promise<Reply> {
    const filter = mount(this.cfg.mountpoint, topic);
    const wanted = ex.req.block2;
    if (wanted && wanted.num > 0) return this.nextBlock(device, filter);
    const observe = ex.req.observe;
    if (observe === 1) {
      // Only the principal that registered it finds it: another user's c= cancels nothing.
      const o = this.observers.get(device.id, filter, device.username);
      if (o) await this.observers.remove(o, 'unsubscribed');
      return { code: '2.07' };
    }
    if (observe !== 0) return { code: '4.00', message: 'invalid observe value' };
    const token = ex.req.token;
    if (token.length === 0) return { code: '4.00', message: 'observe without token' };
    if (topic === '' || invalidTopicFilter(filter)) return { code: '4.00', message: `invalid topic: ${invalidTopicFilter(filter) ?? 'empty topic'}` };
    const qos = resolveQos(ex.query.qos, this.cfg.subscribe_qos, ex.confirmable);
    if (typeof qos === 'object') return { code: '4.00', message: qos.error };
    const szx = Math.min(szxFor(this.cfg.blockwise.max_block_size), ex.server.szx, wanted ? wanted.szx : 6);
    // The same clientid from another principal is a different relation: it is a new subscription,
    // checked by the ACL, and never re-points or replaces the first principal's.
    const existing = this.observers.get(device.id, filter, device.username);
    if (existing) {
      // RFC 7641 4.1: a new registration for the same target replaces the entry (token, address).
      this.observers.rebind(existing, ex.server, ex.peer, token);
      this.observers.renew(existing);
      Object.assign(existing, { subQos: qos, szx });
      return { code: '2.05', options: [['Observe', uintOption(this.observers.nextSeq(existing))]] };
    }
    const refused = this.observers.refuse(device.id, device.username, ex.server, ex.peer);
    if (refused) return { code: '5.03', message: refused, options: [['Max-Age', uintOption(60)]] };
    const o = this.observers.add({ clientid: device.id, username: device.username, filter, server: ex.server, peer: ex.peer, token, subQos: qos, szx });
    try {
      o.subscription = await this.ctx.messages.subscribe(filter, (msg) => this.observers.deliver(o, msg), device);
    } catch (err) {
      await this.observers.remove(o, 'subscribe refused');
      if (!(err instanceof PublishRejected)) throw err;
      return { code: REJECT_CODES[err.reason] ?? '5.00', message: err.reason };
    }
    if (o.closed) await o.subscription.unsubscribe();
    this.ctx.messages.deviceSeen(device);
    return { code: '2.05', options: [['Observe', uintOption(this.observers.nextSeq(o))]] };
  }

  /** Block2 follow-up for a large notification: the engine slices the snapshot by the request's Block2. */
  private nextBlock(device: DeviceIdentity, filter: string): Reply {
    const snap = this.observers.snapshots.get(Observers.key(device.id, filter, device.username));
    if (!snap) return { code: '4.04', message: 'no notification to continue' };
    return { code: '2.05', payload: snap };
  }

  private async connection(ex: Exchange): Promise<Reply> {
    const m = ex.req.method;
    const { clientid, username, password, token } = ex.query;
    if (m === 'POST') {
      if (!clientid) return { code: '4.00', message: 'Login Failed: clientid is required' };
      const device = deviceOf(clientid, ex.peer, username, ex.via);
      if (this.sessions.full(clientid)) return { code: '5.03', message: 'too many sessions', options: [['Max-Age', uintOption(60)]] };
      const auth = await this.ctx.messages.authenticate(device, password);
      // 4.01, as EMQX's docs say and as every other authorization failure here; EMQX's code sends 4.00.
      if (!auth.ok) {
        this.refused(ex, clientid, username, auth);
        return { code: '4.01', message: `Login Failed: ${auth.reason}` };
      }
      // Other logins may have filled the table while this one was being authenticated.
      if (this.sessions.full(clientid)) return { code: '5.03', message: 'too many sessions', options: [['Max-Age', uintOption(60)]] };
      const { session, replaced } = this.sessions.create(clientid, username, ex.server, ex.peer, ex.via);
      if (replaced) await this.closeSession(replaced.clientid, replaced.device, 'discarded');
      this.ctx.messages.deviceConnected(session.device, { keepalive: Math.round(this.cfg.heartbeat / 1000), proto_name: 'CoAP', proto_ver: 1, sockport: localPort(ex.server) });
      return { code: '2.01', payload: Buffer.from(session.token) };
    }
    if (m !== 'PUT' && m !== 'DELETE') return { code: '4.05' };
    const c = this.sessions.check(clientid, token);
    if (!c.ok) return { code: c.code, message: c.message };
    this.follow(c.session, ex);
    if (m === 'PUT') return { code: '2.04' };
    this.sessions.remove(c.session);
    await this.closeSession(c.session.clientid, c.session.device, 'normal');
    return { code: '2.02' };
  }

  /** Ends a session's observations and reports it disconnected. */
  async closeSession(clientid: string, device: DeviceIdentity, reason: string): Promise<void> {
    await this.observers.removeClient(clientid, reason);
    this.ctx.messages.deviceDisconnected(device, reason);
  }

  /**
   * Observation leases (connectionless mode; in connection mode the session's heartbeat decides).
   */
  async expireObservations(): Promise<void> {
    if (this.cfg.connection_required) return;
    const n = await this.observers.expireIdle();
    if (n > 0) this.ctx.log.info({ count: n }, 'CoAP observations expired (no sign of the client within observe_lease)');
  }

  /** Heartbeat expiry: 1.5 x heartbeat without a request (EMQX's keepalive check). */
  async expireSessions(): Promise<void> {
    for (const s of this.sessions.expire(this.cfg.heartbeat * 1.5)) {
      this.peerInfo.event('keepalive_timeout', deviceIp(s.device), { clientid: s.clientid }, 'CoAP session expired (keepalive_timeout)');
      await this.closeSession(s.clientid, s.device, 'keepalive_timeout');
    }
  }
}

/** The local UDP port a request came in on, for $SYS `sockport` (a transport without one, e.g. a modem's: undefined). */
function localPort(server: CoapEndpoint): number | undefined {
  try {
    const addr = (server.transport as { address?: () => { port?: number } }).address?.();
    return typeof addr?.port === 'number' ? addr.port : undefined;
  } catch {
    return undefined; // a socket not bound (closing)
  }
}

