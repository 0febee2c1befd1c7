// The CoAP adapter's lifecycle: binds UDP (IPv4 and, when available, IPv6), runs one engine
// endpoint (adapters/lib/coap) per datagram transport over a shared handler (the UDP sockets, and
// every `datagram/*` service with protocol coap, such as a modem's NB-IoT socket), and sweeps
// expired state. Everything protocol-level (framing, de-duplication, piggy-backed vs separate responses,
// Block1/Block2, retransmission) is the engine's; this folder is the EMQX pub/sub contract.
import type { Socket } from 'node:dgram';
import type { Adapter, AdapterContext } from '../../gateway/core/adapter.ts';
import type { DatagramTransport as ServiceDatagram } from '../../gateway/core/datagram.ts';
import { RateLimitedLog, moreLine, moreSuffix } from '../../gateway/core/log-limit.ts';
import { followDatagrams } from '../lib/coap/datagrams.ts';
import { Block1Assembler, CoapEndpoint, RateLimiter, bindDualStack, uintOption, type CoapReply, type CoapRequest, type DatagramTransport, type EndpointEvents, type Peer } from '../lib/coap/index.ts';
import type { CoapConfig } from './config.ts';
import { CoapHandler } from './handler.ts';
import { Observers } from './observers.ts';
import { AuthCache, Sessions, addressText } from './sessions.ts';

export class CoapAdapter implements Adapter {
  private ctx?: AdapterContext;
  private handler?: CoapHandler;
  private limiter?: RateLimiter;
  private auth?: AuthCache;
  private assembler?: Block1Assembler;
  private limitedLog?: RateLimitedLog;
  /** Addresses refused since the last rate-limit line (at most 10 named). */
  private readonly limitedAddresses = new Set<string>();
  private sessions?: Sessions;
  private readonly endpoints: CoapEndpoint[] = [];
  private readonly sockets: Socket[] = [];
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private unfollow?: () => void;
  /** Datagrams a provided transport refused (modem busy): one line per transport per minute. */
  private readonly sendLog = new RateLimitedLog({ intervalMs: 60_000, write: (f, m) => this.ctx?.log.warn(f, m), tail: true });

  constructor(private readonly cfg: CoapConfig) {}

  async start(ctx: AdapterContext): Promise<void> {
    this.ctx = ctx;
    const { cfg } = this;
    this.startEngine(ctx);
    const port = await this.bindSockets(ctx);
    this.followProvided(ctx);
    const sweepMs = Math.max(50, Math.min(1000, cfg.heartbeat / 4));
    this.timer = setInterval(() => this.sweep(), sweepMs);
    this.timer.unref();
    ctx.log.info({ port, host: cfg.host, ipv6: this.sockets.length > 1, connection_required: cfg.connection_required, mountpoint: cfg.mountpoint }, 'CoAP listening');
  }

  /** What every transport shares: rate limit, auth cache, observers, block1 reassembly, sessions, handler, gauges. */
  private startEngine(ctx: AdapterContext): void {
    const { cfg } = this;
    const m = ctx.metrics;
    this.limiter = new RateLimiter(cfg.limits.rate, cfg.limits.burst, cfg.limits.max_peers);
    this.auth = new AuthCache(cfg.limits.max_peers, 60_000);
    const addresses = () => {
      const a = [...this.limitedAddresses];
      this.limitedAddresses.clear();
      return a;
    };
    this.limitedLog = new RateLimitedLog({
      intervalMs: 60_000,
      write: (fields, msg) => ctx.log.warn(fields, msg),
      flush: (n) => ({ fields: { rate_limited: n, addresses: addresses() }, msg: moreLine(n, `CoAP requests refused over the per-address rate limit (limits.rate ${cfg.limits.rate}/s)`, 60_000) }),
    });
    const observers = new Observers(
      { notifyType: cfg.notify_type, maxObservers: cfg.limits.max_observers, maxPerClient: cfg.limits.max_observers_per_client, maxPerAddress: cfg.limits.max_observers_per_address, leaseMs: cfg.limits.observe_lease, queueMax: cfg.limits.notify_queue, szx: Math.log2(cfg.blockwise.max_block_size) - 4, ackTimeoutMs: 2000, maxRetransmit: 4 },
      { sent: m.counter('notifications/sent'), retransmitted: m.counter('notifications/retransmitted'), droppedQueueFull: m.counter('notifications/dropped/queue_full'), cancelled: m.counter('observers/cancelled') },
      (o, why) => ctx.log.debug({ clientid: o.clientid, filter: o.filter, why }, 'CoAP observation ended'),
    );
    // One reassembly state for every transport, so max_buffered bounds them all together.
    this.assembler = new Block1Assembler({ maxBody: cfg.blockwise.max_body_size, maxBuffered: cfg.blockwise.max_buffered, maxPerPeer: 4, maxTransfers: 1024, timeoutMs: cfg.blockwise.timeout });
    const sessions = new Sessions(cfg.limits.max_sessions);
    this.sessions = sessions;
    this.handler = new CoapHandler(cfg, ctx, sessions, observers, this.auth);
    m.gaugeFn('observers', () => observers.size);
    m.gaugeFn('sessions', () => sessions.size);
    m.gaugeFn('block1/buffered_bytes', () => this.assembler?.bufferedBytes ?? 0);
    m.gaugeFn('dedup/entries', () => this.endpoints.reduce((n, e) => n + e.stats().dedup, 0));
    m.gaugeFn('peers/tracked', () => this.limiter?.tracked ?? 0);
  }

  /** The UDP sockets (IPv4, and IPv6 on the same port when enabled and possible); resolves with the port. */
  private async bindSockets(ctx: AdapterContext): Promise<number> {
    const { cfg } = this;
    const { v4, v6, v6Error } = await bindDualStack(cfg).catch((err: Error) => {
      const inUse = /EADDRINUSE/.test(err.message);
      throw new Error(`${err.message} (adapters.coap.port ${cfg.port}, adapters.coap.host ${cfg.host}${inUse ? ': another process holds it (fieldgate doctor names it); choose another adapters.coap.port or stop that process' : ''})`);
    });
    if (v6Error) ctx.log.warn({ err: v6Error.message }, 'CoAP over IPv6 unavailable; serving IPv4 only');
    for (const [id, s] of [['udp4', v4], ['udp6', v6]] as const) {
      if (!s) continue;
      this.sockets.push(s);
      this.attach(id, s);
    }
    for (const s of this.sockets) s.on('error', (err) => ctx.fail(new Error(`CoAP socket failed: ${err.message}`)));
    return v4.address().port;
  }

  /** Serves the datagram transports other adapters provide (a modem's socket). */
  private followProvided(ctx: AdapterContext): void {
    this.unfollow = followDatagrams(ctx.services, 'coap', {
      attach: (t) => this.attachService(t),
      detach: (ep, name, why) => {
        ctx.log.info({ transport: name, why }, `CoAP stopped serving datagram transport ${name}: ${why}`);
        this.detach(ep);
      },
      changed: (name, up, why) => ctx.log.info({ transport: name, why }, up ? `CoAP datagram transport ${name} is back (${why}); its devices' observations carry on` : `CoAP datagram transport ${name} gone (${why}); its devices' state is kept until it is back`),
    });
  }

  /** A provided transport (a modem's socket): same engine, same handler, its own size limit. */
  private attachService(t: ServiceDatagram): CoapEndpoint {
    const ep = this.attach(t.name, t, t.name);
    this.ctx!.log.info({ transport: t.name, max_datagram: t.maxDatagram, block_size: ep.blockSize }, `CoAP serving datagram transport ${t.name}`);
    return ep;
  }

  /**
   * Serves CoAP over a datagram transport: a UDP socket, or a provided DatagramTransport (a modem's
   * socket). `id` names the transport in peer keys and logs; `via` (a provided transport's name)
   * goes into the identities of the devices it serves.
   */
  attach(id: string, transport: DatagramTransport | ServiceDatagram, via?: string): CoapEndpoint {
    const handler = this.handler;
    if (!this.ctx || !handler) throw new Error(`CoAP adapter not started: cannot attach transport ${id}`);
    const { cfg } = this;
    const ep: CoapEndpoint = new CoapEndpoint(
      transport,
      {
        id,
        piggybackMs: cfg.piggyback_timeout,
        dedupEntries: cfg.limits.dedup_cache,
        blockSize: cfg.blockwise.max_block_size,
        block1: cfg.blockwise.enable ? { maxBody: cfg.blockwise.max_body_size, maxBuffered: cfg.blockwise.max_buffered, maxPerPeer: 4, maxTransfers: 1024, timeoutMs: cfg.blockwise.timeout } : false,
        assembler: this.assembler,
        gate: this.gate(id),
        handler: (req, respond): void => handler.handle(ep, req, respond, via),
      },
      this.events(() => ep),
    );
    this.endpoints.push(ep);
    return ep;
  }

  /** Stops serving a transport attached with attach() (the modem's socket closed). */
  detach(ep: CoapEndpoint): void {
    const i = this.endpoints.indexOf(ep);
    if (i < 0) return;
    this.endpoints.splice(i, 1);
    ep.close();
  }

  /**
   * An operator ends a connection-mode session (its observations end, the device is reported
   * disconnected). A connectionless device has no session to end: false.
   */
  async disconnect(clientid: string, reason: string): Promise<boolean> {
    const s = this.sessions?.get(clientid);
    if (!s || !this.handler) return false;
    this.sessions!.remove(s);
    await this.handler.closeSession(s.clientid, s.device, reason);
    return true;
  }

  /** The per-address rate limit, before anything else is spent on a request. */
  private gate(id: string): (req: CoapRequest) => CoapReply | 'drop' | undefined {
    const m = this.ctx!.metrics;
    const requests = m.counter('requests');
    const limited = m.counter('rate_limited');
    return (req) => {
      requests.inc();
      // Per IP address, not ip:port: rotating source ports must not buy a fresh bucket each time.
      const key = `${id}|${req.peer.address}`;
      if (this.limiter!.take(key)) return undefined;
      limited.inc();
      if (this.limitedAddresses.size < 10) this.limitedAddresses.add(req.peer.address);
      this.limitedLog!.event('rate_limited', (more) => ({
        fields: { peer: req.peer.address, rate: this.cfg.limits.rate, burst: this.cfg.limits.burst, addresses: [...this.limitedAddresses] },
        msg: `CoAP request from ${req.peer.address} refused over the per-address rate limit (limits.rate ${this.cfg.limits.rate}/s, burst ${this.cfg.limits.burst})${moreSuffix(more, 60_000)}`,
      }));
      if (this.limitedLog!.suppressed('rate_limited') === 0) this.limitedAddresses.clear();
      // RFC 8516 4.29 Too Many Requests, Max-Age = seconds until a request fits again. A NON
      // request is dropped without reply: answering a flood would only double it.
      if (!req.confirmable) return 'drop';
      const wait = Math.max(1, Math.ceil(this.limiter!.retryAfterMs(key) / 1000));
      return { code: '4.29', options: [{ name: 'Max-Age', value: uintOption(wait) }] };
    };
  }

  private events(endpoint: () => CoapEndpoint): EndpointEvents {
    const ctx = this.ctx!;
    const malformed = ctx.metrics.counter('malformed');
    return {
      reply: (type, messageId, peer: Peer) => this.handler!.observers.onReply(endpoint(), peer, messageId, type === 'RST'),
      malformed: (reason, peer) => {
        malformed.inc();
        ctx.log.debug({ peer: addressText(peer), reason }, 'malformed CoAP datagram');
      },
      error: (err, peer) => ctx.log.error({ peer: addressText(peer), err: err.message }, 'CoAP request processing failed'),
      sendFailed: (err, peer) => {
        const id = endpoint().id;
        this.sendLog.event(id, (more) => ({ fields: { transport: id, peer: addressText(peer), err: err.message }, msg: `CoAP datagram to ${addressText(peer)} not sent through ${id}: ${err.message}${moreSuffix(more, 60_000)}` }));
      },
    };
  }

  private sweep(): void {
    if (this.stopped) return;
    void this.handler?.expireSessions().catch((err: Error) => this.ctx?.log.error({ err: err.message }, 'CoAP session sweep failed'));
    void this.handler?.expireObservations().catch((err: Error) => this.ctx?.log.error({ err: err.message }, 'CoAP observation sweep failed'));
    this.limiter?.prune();
    this.auth?.prune();
    for (const ep of this.endpoints) ep.server.prune();
    this.assembler?.prune();
    this.handler?.observers.snapshots.prune();
  }

  /** `udp`, and `udp6` when IPv6 is served: the bound ports (a port of 0 is chosen by the OS). */
  ports(): Record<string, number> {
    return Object.fromEntries(this.sockets.map((s) => [s.address().family === 'IPv6' ? 'udp6' : 'udp', s.address().port]));
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.unfollow?.();
    await this.handler?.observers.clear();
    this.assembler?.clear();
    this.auth?.clear();
    for (const ep of this.endpoints) ep.close();
    for (const s of this.sockets) {
      try {
        s.close();
      } catch {
        // already closed
      }
    }
    this.limitedLog?.flushAll();
    this.handler?.flushLog();
    this.limitedLog?.clear();
    this.sendLog.clear();
    this.endpoints.length = 0;
    this.sockets.length = 0;
  }
}
