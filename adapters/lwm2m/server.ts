// The LwM2M server's logic: the registration interface (Register, Update, De-register, lifetime),
// the device table, MQTT commands in and JSON out. Sockets, the CoAP engine and the clock are
// given to it, so this is the part tests drive directly.
import { randomBytes } from 'node:crypto';
import type { AdapterContext, DeviceIdentity, Subscription } from '../../gateway/core/adapter.ts';
import { message, parseCommandJson, responseData, translate, type Command } from './commands.ts';
import type { Lwm2mConfig } from './config.ts';
import { EndpointMap } from './endpoints.ts';
import { Device, type Pending } from './device.ts';
import { runCommand, type Channel } from './exchange.ts';
import type { CoapLink } from './link.ts';
import type { ObjectModel } from './objects/model.ts';
import { autoObservePaths } from './observe-plan.ts';
import { eventData, merge, parseQuery, parseRegister, parseUpdate } from './registration.ts';
import { RateLimitedLog } from '../../gateway/core/log-limit.ts';
import { PeerLog } from '../../gateway/core/peer-log.ts';
import { invalidEndpoint, mountpoint } from './topics.ts';
import { UpdateBucket } from './update-limit.ts';

export interface RdRequest {
  transport: string;
  peer: { address: string; port: number };
  method: string;
  path: string[];
  query: string[];
  payload: Buffer;
  /** The local UDP port the request came in on ($SYS `sockport`); undefined on a transport without one. */
  localPort?: number;
}

export interface RdReply {
  code: string;
  payload?: string;
  locationPath?: string[];
  maxAge?: number;
}

export interface ServerDeps {
  ctx: Pick<AdapterContext, 'messages' | 'log'>;
  cfg: Lwm2mConfig;
  model: ObjectModel;
  /** The CoAP link of each transport ("udp4", "udp6", ...). */
  link(transport: string): CoapLink | undefined;
  now(): number;
  /** Per source address; false = over the registration rate. */
  admit(transport: string, address: string): { ok: true } | { ok: false; retryAfterS: number };
  count(name: string): void;
  /** The name to record as a device's `via` when `transport` is a provided datagram transport (a modem's socket). */
  via?(transport: string): string | undefined;
}

export class Lwm2mServer {
  private readonly byEp = new Map<string, Device>();
  private readonly byRegId = new Map<string, Device>();
  /** The command subscription of each endpoint: created once, kept across re-registrations. */
  private readonly subs = new Map<string, Subscription>();
  /** Registers being processed, by endpoint: the next one for the same endpoint waits for it. */
  private readonly registering = new Map<string, Promise<unknown>>();
  /** New endpoints between the max_devices check and their device being added (authentication is awaited). */
  private readonly reserved = new Set<string>();
  /** Each registered endpoint's Update allowance (kept across re-registrations, gone with the device). */
  private readonly updates = new Map<string, UpdateBucket>();
  /** Lines a device or an MQTT client can repeat at will: one per kind per 10 s, with the count left out. */
  private readonly limited: RateLimitedLog;
  /** Lines one device repeats per packet or per registration: one per source address and reason per minute, then "... and N more". */
  private readonly peerLog: PeerLog;
  private readonly peerInfo: PeerLog;

  private readonly endpoints: EndpointMap;

  constructor(private readonly d: ServerDeps) {
    this.endpoints = new EndpointMap(d.cfg.endpoints);
    this.limited = new RateLimitedLog({ intervalMs: 10_000, write: (f, m) => d.ctx.log.warn(f, m), now: d.now });
    this.peerLog = new PeerLog(d.ctx.log);
    this.peerInfo = new PeerLog(d.ctx.log, 'info');
  }

  get size(): number {
    return this.byEp.size;
  }

  device(ep: string): Device | undefined {
    return this.byEp.get(ep);
  }

  devices(): Device[] {
    return [...this.byEp.values()];
  }

  /** Requests on the registration interface. Anything else is 4.04. */
  async handle(req: RdRequest): Promise<RdReply> {
    const [first, id, ...rest] = req.path;
    if (first !== 'rd' || rest.length > 0) return { code: '4.04', payload: 'not found: the registration interface is /rd' };
    if (id === undefined) return req.method === 'POST' ? this.registerInTurn(req) : { code: '4.05' };
    const dev = this.byRegId.get(id);
    if (!dev) return { code: '4.04', payload: 'unknown registration: register again' };
    if (req.method === 'POST') return this.update(dev, req);
    if (req.method === 'DELETE') return this.deregister(dev, req);
    return { code: '4.05' };
  }

  /** Two Registers for one endpoint at once would race over its device and its subscription: one at a time. */
  private registerInTurn(req: RdRequest): Promise<RdReply> {
    const ep = parseQuery(req.query).ep ?? '';
    const run = (this.registering.get(ep) ?? Promise.resolve()).then(() => this.register(req));
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.registering.set(ep, tail);
    void tail.then(() => {
      if (this.registering.get(ep) === tail) this.registering.delete(ep);
    });
    return run;
  }

  private async register(req: RdRequest): Promise<RdReply> {
    const { cfg, ctx } = this.d;
    const admit = this.d.admit(req.transport, req.peer.address);
    if (!admit.ok) {
      this.d.count('registrations_rate_limited');
      return { code: '4.29', maxAge: admit.retryAfterS };
    }
    const parsed = parseRegister(req.query, req.payload);
    if (!parsed.ok) return { code: '4.00', payload: parsed.message };
    const info = parsed.info;
    const ep = info.ep!;
    const bad = invalidEndpoint(ep);
    if (bad) return { code: '4.00', payload: `Login Failed: ${bad}` };
    // The slot is taken before authentication is awaited: concurrent Registers cannot all pass the check.
    const isNew = !this.byEp.has(ep);
    if (isNew && this.byEp.size + this.reserved.size >= cfg.max_devices) return this.full();
    if (isNew) this.reserved.add(ep);
    const clientid = info.params.device_id || ep;
    // Query credentials (imei/password) first; else the endpoint map (adapters.lwm2m.endpoints) may name the device.
    const mapped = info.params.imei ? undefined : this.endpoints.decide(ep, req.peer.address);
    const username = info.params.imei || (mapped?.ok ? mapped.username : undefined);
    const identity: DeviceIdentity = { protocol: 'lwm2m', transport: 'udp', id: clientid, address: addr(req.peer), via: this.d.via?.(req.transport), username };
    const auth = await (mapped === undefined ? ctx.messages.authenticate(identity, info.params.password) : mapped.ok ? ctx.messages.identify(identity) : Promise.resolve({ ok: false as const, reason: 'not_authorized' as const, detail: mapped.detail })).finally(() => this.reserved.delete(ep));
    // The device was there at the check and went meanwhile (De-register): it needs a free slot again.
    if (!isNew && !this.byEp.has(ep) && this.byEp.size + this.reserved.size >= cfg.max_devices) return this.full();
    if (!auth.ok) {
      this.d.count('registrations_unauthorized');
      this.limited.event('refused', (more) => ({ fields: { ep, peer: identity.address, reason: auth.reason, detail: auth.detail, more_since_last_line: more }, msg: 'LwM2M registration refused' }));
      return { code: '4.01', payload: auth.detail };
    }
    const lifetimeMs = this.lifetime(info.lt);
    const regId = randomBytes(6).toString('hex');
    const old = this.byEp.get(ep); // looked up after the await: a De-register may have come meanwhile
    let dev: Device;
    if (old) {
      // Re-registration (a reboot, or NAT rebinding on NB-IoT): same identity, same queued commands.
      this.byRegId.delete(old.regId);
      dev = this.adopt(old, regId, req, info, lifetimeMs);
    } else {
      dev = new Device(ep, regId, clientid, username, req.transport, req.peer, info, lifetimeMs, { now: this.d.now, send: (x, p) => this.send(x, p), expired: (x, p) => this.reportDropped(x, p, 'command_expired') }, { maxQueued: cfg.max_queued_commands, windowMs: cfg.qmode_time_window });
      this.byEp.set(ep, dev);
    }
    this.byRegId.set(regId, dev);
    if (!this.subs.has(ep)) await this.subscribe(dev);
    ctx.messages.deviceConnected(this.identity(dev), { keepalive: Math.round(lifetimeMs / 1000), proto_name: 'LwM2M', proto_ver: info.params.lwm2m ?? '1.0', sockport: req.localPort });
    this.publish(dev, 'register', { msgType: 'register', data: eventData(info, true) });
    this.d.count('registrations');
    queueMicrotask(() => {
      this.observeAuto(dev);
      dev.pump();
    });
    return { code: '2.01', locationPath: ['rd', regId] };
  }

  private full(): RdReply {
    this.d.count('registrations_refused_full');
    return { code: '5.03', payload: `too many devices (max_devices ${this.d.cfg.max_devices})`, maxAge: 60 };
  }

  private adopt(dev: Device, regId: string, req: RdRequest, info: Device['reg'], lifetimeMs: number): Device {
    // A Register cancels the device's observations (LwM2M 1.1 6.2.1): forget ours at the old address.
    const link = this.d.link(dev.transport);
    for (const o of dev.observations.values()) link?.forget(dev.peer, o.token);
    dev.observations.clear();
    const moved = new Device(dev.ep, regId, dev.clientid, dev.username, req.transport, req.peer, info, lifetimeMs, { now: this.d.now, send: (x, p) => this.send(x, p), expired: (x, p) => this.reportDropped(x, p, 'command_expired') }, { maxQueued: this.d.cfg.max_queued_commands, windowMs: this.d.cfg.qmode_time_window });
    moved.inherit(dev);
    this.byEp.set(dev.ep, moved);
    return moved;
  }

  private update(dev: Device, req: RdRequest): RdReply {
    const waitMs = this.updateBucket(dev.ep).take(this.d.now());
    if (waitMs > 0) {
      this.d.count('updates_rate_limited');
      this.limited.event('update_rate', (more) => ({ fields: { ep: dev.ep, update_rate: this.d.cfg.update_rate, more_since_last_line: more }, msg: 'LwM2M Update over update_rate: answered 4.29' }));
      return { code: '4.29', maxAge: Math.max(1, Math.ceil(waitMs / 1000)) };
    }
    const parsed = parseUpdate(req.query, req.payload);
    if (!parsed.ok) return { code: '4.00', payload: parsed.message };
    dev.reg = merge(dev.reg, parsed.info);
    if (parsed.info.lt !== undefined) dev.lifetimeMs = this.lifetime(parsed.info.lt);
    dev.heard();
    if (dev.peer.address !== req.peer.address || dev.peer.port !== req.peer.port || dev.transport !== req.transport) {
      // NAT rebinding: the device did not move, its address did. Commands follow it; so do observations.
      this.d.count('rebinds');
      this.peerInfo.event('address_changed', req.peer.address, { ep: dev.ep, from: dev.address, to: addr(req.peer) }, 'LwM2M device address changed');
      this.rebind(dev, req);
    }
    if (this.d.cfg.update_msg_publish_condition === 'always' || parsed.info.objectList) {
      this.publish(dev, 'update', { msgType: 'update', data: eventData(dev.reg, parsed.info.objectList !== undefined) });
    }
    this.d.ctx.messages.deviceSeen(this.identity(dev));
    queueMicrotask(() => dev.pump());
    return { code: '2.04' };
  }

  private updateBucket(ep: string): UpdateBucket {
    let b = this.updates.get(ep);
    if (!b) this.updates.set(ep, (b = new UpdateBucket(this.d.cfg.update_rate, this.d.cfg.update_burst, this.d.now())));
    return b;
  }

  private rebind(dev: Device, req: RdRequest): void {
    const link = this.d.link(dev.transport);
    const observed = [...dev.observations.values()];
    for (const o of observed) link?.forget(dev.peer, o.token);
    dev.observations.clear();
    dev.peer = req.peer;
    dev.transport = req.transport;
    // Observations were registered from the old address: set them again, quietly, at the new one.
    for (const o of observed) {
      const t = translate({ ...o.cmd.envelope, msgType: 'observe', data: o.cmd.data }, this.d.model, this.d.cfg.write_format);
      if (t.ok) dev.queue.unshift({ cmd: t.cmd, request: t.request, expiresAt: this.d.now() + this.d.cfg.command_ttl, silent: true });
    }
  }

  private deregister(dev: Device, req: RdRequest): RdReply {
    dev.heard();
    this.d.ctx.log.debug({ ep: dev.ep, peer: addr(req.peer) }, 'LwM2M de-register');
    void this.remove(dev, 'normal');
    return { code: '2.02' };
  }

  /** Lifetime expiry: devices silent for longer than their lifetime are gone (reason `timeout`). */
  sweep(): void {
    const now = this.d.now();
    for (const dev of [...this.byEp.values()]) {
      if (now - dev.lastSeen >= dev.lifetimeMs) {
        this.d.count('lifetime_expired');
        void this.remove(dev, 'timeout');
      } else dev.expire();
    }
  }

  /** An operator ends a registration (by client id, as in the registry, or endpoint name): the device must register again. */
  async kick(id: string, reason: string): Promise<boolean> {
    const dev = [...this.byEp.values()].find((d) => d.clientid === id) ?? this.byEp.get(id);
    if (!dev) return false;
    await this.remove(dev, reason);
    return true;
  }

  private async remove(dev: Device, reason: string): Promise<void> {
    if (this.byEp.get(dev.ep) !== dev) return;
    this.byEp.delete(dev.ep);
    this.byRegId.delete(dev.regId);
    this.updates.delete(dev.ep);
    const link = this.d.link(dev.transport);
    for (const o of dev.observations.values()) link?.forget(dev.peer, o.token);
    dev.observations.clear();
    for (const p of dev.close()) this.reportDropped(dev, p, 'device_gone');
    this.d.ctx.messages.deviceDisconnected(this.identity(dev), reason);
    const sub = this.subs.get(dev.ep);
    this.subs.delete(dev.ep);
    await sub?.unsubscribe().catch((err: Error) => this.d.ctx.log.warn({ ep: dev.ep, err: err.message }, 'LwM2M unsubscribe failed'));
  }

  async close(): Promise<void> {
    for (const dev of [...this.byEp.values()]) await this.remove(dev, 'shutdown');
    // What was counted but not yet written goes out now, with its count.
    this.peerLog.flush();
    this.peerInfo.flush();
  }

  private lifetime(lt: number | undefined): number {
    const { lifetime_min: min, lifetime_max: max } = this.d.cfg;
    if (!lt) return max;
    return Math.min(max, Math.max(min, lt * 1000));
  }

  private identity(dev: Device): DeviceIdentity {
    return { protocol: 'lwm2m', transport: 'udp', id: dev.clientid, address: dev.address, via: this.d.via?.(dev.transport), username: dev.username };
  }

  topic(dev: Device, channel: Channel | 'command'): string {
    return mountpoint(this.d.cfg.mountpoint, dev) + this.d.cfg.translators[channel].topic;
  }

  publish(dev: Device, channel: Channel, body: Record<string, unknown>): void {
    const t = this.d.cfg.translators[channel];
    const qos = t.qos === 0 ? 0 : 1;
    this.d.count(`published_${channel}`);
    this.d.ctx.messages
      .publish({ topic: this.topic(dev, channel), payload: JSON.stringify(body), qos, device: this.identity(dev) })
      .catch((err: Error & { reason?: string }) => this.peerLog.event(`publish_${err.reason ?? 'refused'}`, dev.peer.address, { ep: dev.ep, channel, err: err.message }, 'LwM2M publish refused'));
  }

  private async subscribe(dev: Device): Promise<void> {
    const filter = this.topic(dev, 'command');
    try {
      const sub = await this.d.ctx.messages.subscribe(filter, (msg) => this.command(dev.ep, msg.payload, msg.messageExpiryInterval), this.identity(dev));
      if (this.subs.has(dev.ep) || !this.byEp.has(dev.ep)) {
        // Another one is live, or the device went while we subscribed: a second would run every command twice.
        await sub.unsubscribe();
        return;
      }
      this.subs.set(dev.ep, sub);
    } catch (err) {
      this.peerLog.event('subscribe_denied', dev.peer.address, { ep: dev.ep, filter, err: (err as Error).message }, 'LwM2M command subscription refused: this device gets no commands');
    }
  }

  /**
   * A JSON command from MQTT for device `ep`. `expirySeconds`: the MQTT 5 message expiry interval it
   * was delivered with (from a cloud downlink), i.e. what is left of its lifetime as it arrives here.
   */
  command(ep: string, payload: Buffer, expirySeconds?: number): void {
    const dev = this.byEp.get(ep);
    if (!dev) return;
    const doc = parseCommandJson(payload);
    if (!doc) {
      this.d.count('commands_invalid_json');
      this.limited.event('invalid_json', (more) => ({ fields: { ep, bytes: payload.length, more_since_last_line: more }, msg: 'LwM2M command dropped: not a JSON object' }));
      return;
    }
    const t = translate(doc, this.d.model, this.d.cfg.write_format);
    this.d.count('commands');
    if (!t.ok) {
      this.d.count('commands_rejected');
      this.publish(dev, 'response', message(t.cmd, t.cmd.msgType, responseData(t.cmd, '4.00', undefined, t.error)));
      return;
    }
    // Both expiries are in seconds and both count from now (arrival), so they compare in one unit
    // (ms here; EMQX compares ms with s and never expires). The sooner one wins.
    const ttlMs = t.cmd.ttl === undefined ? this.d.cfg.command_ttl : t.cmd.ttl * 1000;
    const lifeMs = expirySeconds === undefined ? ttlMs : Math.min(ttlMs, expirySeconds * 1000);
    const p: Pending = { cmd: t.cmd, request: t.request, expiresAt: this.d.now() + lifeMs };
    if (t.cmd.ttl === 0) {
      void this.send(dev, p); // EMQX: ttl 0 is fire-and-forget, not held behind the queue
      return;
    }
    if (!dev.enqueue(p)) {
      this.d.count('commands_queue_full');
      this.publish(dev, 'response', message(t.cmd, t.cmd.msgType, responseData(t.cmd, '5.03', undefined, `command queue full (max_queued_commands ${this.d.cfg.max_queued_commands})`)));
    }
  }

  private send(dev: Device, p: Pending): Promise<void> {
    const link = this.d.link(dev.transport);
    if (!link) return Promise.resolve();
    return runCommand(dev, p, {
      link,
      model: this.d.model,
      separateTimeoutMs: this.d.cfg.coap.separate_timeout,
      publish: (x, channel, body) => {
        if (!(p.silent && channel === 'response')) this.publish(x, channel, body);
      },
      heard: (x) => x.heard(),
      undecodable: (x, cmd, err) => this.undecodable(x, cmd, err),
    });
  }

  private undecodable(dev: Device, cmd: Command, err: Error): void {
    this.d.count('payloads_undecodable');
    this.limited.event('undecodable', (more) => ({ fields: { ep: dev.ep, msgType: cmd.msgType, path: cmd.reqPath, err: err.message, more_since_last_line: more }, msg: 'LwM2M device payload could not be decoded' }));
  }

  private reportDropped(dev: Device, p: Pending, why: 'command_expired' | 'device_gone'): void {
    this.d.count(why === 'command_expired' ? 'commands_expired' : 'commands_dropped_device_gone');
    this.publish(dev, 'response', message(p.cmd, why, p.cmd.data));
  }

  private observeAuto(dev: Device): void {
    for (const path of autoObservePaths(this.d.cfg.auto_observe, dev.reg.objectList ?? [], this.d.model)) {
      const t = translate({ msgType: 'observe', data: { path } }, this.d.model);
      if (t.ok) dev.enqueue({ cmd: t.cmd, request: t.request, expiresAt: this.d.now() + this.d.cfg.command_ttl });
    }
  }
}

function addr(peer: { address: string; port: number }): string {
  return peer.address.includes(':') ? `[${peer.address}]:${peer.port}` : `${peer.address}:${peer.port}`;
}
