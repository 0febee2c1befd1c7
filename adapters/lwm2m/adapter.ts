// The LwM2M adapter's lifecycle: binds UDP (IPv4 and, when available, IPv6), puts one CoAP
// endpoint of the shared engine on each socket (serving the registration interface and sending
// the commands from the same socket) and on every `datagram/*` service with protocol lwm2m (a
// modem's NB-IoT socket), loads the object model, and sweeps lifetimes and expiries.
import type { Socket } from 'node:dgram';
import type { Adapter, AdapterContext } from '../../gateway/core/adapter.ts';
import type { DatagramTransport as ServiceDatagram } from '../../gateway/core/datagram.ts';
import { RateLimitedLog, moreSuffix } from '../../gateway/core/log-limit.ts';
import { followDatagrams } from '../lib/coap/datagrams.ts';
import { CoapEndpoint, RateLimiter, bindDualStack, uintOption, type CoapOption, type CoapRequest, type DatagramTransport, type Respond } from '../lib/coap/index.ts';
import type { Lwm2mConfig } from './config.ts';
import type { CoapLink } from './link.ts';
import { loadModel } from './objects/index.ts';
import { Lwm2mServer, type RdReply, type ServerDeps } from './server.ts';

export class Lwm2mAdapter implements Adapter {
  private ctx?: AdapterContext;
  private server?: Lwm2mServer;
  private limiter?: RateLimiter;
  private readonly endpoints = new Map<string, CoapEndpoint>();
  private readonly sockets: Socket[] = [];
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private unfollow?: () => void;
  /** Endpoints on provided datagram transports (not our UDP sockets): their devices record `via`. */
  private readonly provided = new Set<string>();
  /** Datagrams a provided transport refused (modem busy): one line per transport per minute. */
  private readonly sendLog = new RateLimitedLog({ intervalMs: 60_000, write: (f, m) => this.ctx?.log.warn(f, m) });

  constructor(private readonly cfg: Lwm2mConfig) {}

  async start(ctx: AdapterContext): Promise<void> {
    this.ctx = ctx;
    const { cfg } = this;
    const { model, files } = loadModel(cfg.xml_dir);
    this.startServer(ctx, model);
    const port = await this.bindSockets(ctx);
    this.followProvided(ctx);
    this.timer = setInterval(() => this.sweep(), Math.min(1000, Math.max(100, cfg.lifetime_min / 4)));
    this.timer.unref();
    ctx.log.info({ port, host: cfg.host, ipv6: this.sockets.length > 1, objects: model.size, xml_files: files.length, mountpoint: cfg.mountpoint }, 'LwM2M listening');
  }

  /** The LwM2M server over the object model, with its registration rate limit and gauges. */
  private startServer(ctx: AdapterContext, model: ServerDeps['model']): void {
    const { cfg } = this;
    const m = ctx.metrics;
    const counters = new Map<string, { inc(): void }>();
    this.limiter = new RateLimiter(cfg.register_rate, cfg.register_burst, 10_000);
    const limiter = this.limiter;
    this.server = new Lwm2mServer({
      ctx,
      cfg,
      model,
      now: Date.now,
      link: (id) => this.link(id),
      via: (id) => (this.provided.has(id) ? id : undefined),
      admit: (transport, address) => {
        const key = `${transport}|${address}`;
        return limiter.take(key) ? { ok: true } : { ok: false, retryAfterS: Math.max(1, Math.ceil(limiter.retryAfterMs(key) / 1000)) };
      },
      count: (name) => {
        let c = counters.get(name);
        if (!c) counters.set(name, (c = m.counter(name)));
        c.inc();
      },
    });
    const server = this.server;
    m.gaugeFn('devices', () => server.size);
    m.gaugeFn('devices_queue_mode', () => server.devices().filter((d) => d.queueMode).length);
    m.gaugeFn('devices_asleep', () => server.devices().filter((d) => d.queueMode && !d.reachable()).length);
    m.gaugeFn('commands_queued', () => server.devices().reduce((n, d) => n + d.queue.length, 0));
    m.gaugeFn('observations', () => server.devices().reduce((n, d) => n + d.observations.size, 0));
  }

  /** The UDP sockets (IPv4, and IPv6 on the same port when enabled and possible); resolves with the port. */
  private async bindSockets(ctx: AdapterContext): Promise<number> {
    const { cfg } = this;
    const { v4, v6, v6Error } = await bindDualStack(cfg).catch((err: Error) => {
      throw new Error(`LwM2M: ${err.message} (adapters.lwm2m.port)`);
    });
    if (v6Error) ctx.log.warn({ err: v6Error.message }, 'LwM2M over IPv6 unavailable; serving IPv4 only');
    for (const [id, s] of [['udp4', v4], ['udp6', v6]] as const) {
      if (!s) continue;
      this.sockets.push(s);
      this.attach(id, s);
    }
    for (const s of this.sockets) s.on('error', (err) => ctx.fail(new Error(`LwM2M socket failed: ${err.message}`)));
    return v4.address().port;
  }

  /**
   * Serves the datagram transports other adapters provide (a modem's socket). A device registered
   * over a modem keeps its transport name: after the modem restarts, the new instance under the
   * same name carries its commands again.
   */
  private followProvided(ctx: AdapterContext): void {
    this.unfollow = followDatagrams(ctx.services, 'lwm2m', {
      attach: (t) => this.attachService(t),
      detach: (ep, name, why) => {
        ctx.log.info({ transport: name, why }, `LwM2M stopped serving datagram transport ${name}: ${why}`);
        if (this.endpoints.get(name) === ep) this.endpoints.delete(name);
        ep.close();
      },
      changed: (name, up, why) => ctx.log.info({ transport: name, why }, up ? `LwM2M datagram transport ${name} is back (${why})` : `LwM2M datagram transport ${name} gone (${why}); registrations are kept until it is back or they expire`),
    });
  }

  private attachService(t: ServiceDatagram): CoapEndpoint {
    const ep = this.attach(t.name, t);
    this.provided.add(t.name);
    this.ctx!.log.info({ transport: t.name, max_datagram: t.maxDatagram, block_size: ep.blockSize }, `LwM2M serving datagram transport ${t.name}`);
    return ep;
  }

  /** Serves LwM2M over a datagram transport: a UDP socket, or a provided one (a modem's socket). */
  attach(id: string, transport: DatagramTransport | ServiceDatagram): CoapEndpoint {
    const ctx = this.ctx;
    if (!ctx) throw new Error(`LwM2M adapter not started: cannot attach transport ${id}`);
    const { coap } = this.cfg;
    const malformed = ctx.metrics.counter('malformed');
    const ep = new CoapEndpoint(transport, {
      id,
      blockSize: coap.max_block_size,
      maxResponseBody: coap.max_body_size,
      transmission: { ackTimeoutMs: coap.ack_timeout, ackRandomFactor: coap.ack_random_factor, maxRetransmit: coap.max_retransmit },
      handler: (req, respond) => this.onRequest(req, respond),
    }, {
      malformed: (reason, peer) => {
        malformed.inc();
        ctx.log.debug({ transport: id, peer: `${peer.address}:${peer.port}`, reason }, 'malformed CoAP datagram on the LwM2M port');
      },
      error: (err, peer) => ctx.log.error({ transport: id, peer: `${peer.address}:${peer.port}`, err: err.message }, 'LwM2M request processing failed'),
      sendFailed: (err, peer) => this.sendLog.event(id, (more) => ({ fields: { transport: id, peer: `${peer.address}:${peer.port}`, err: err.message }, msg: `LwM2M datagram to ${peer.address}:${peer.port} not sent through ${id}: ${err.message}${moreSuffix(more)}` })),
    });
    this.endpoints.set(id, ep);
    return ep;
  }

  private link(id: string): CoapLink | undefined {
    const ep = this.endpoints.get(id);
    if (!ep) return undefined;
    return { request: (peer, req) => ep.request(peer, req), forget: (peer, token) => ep.client.forget(peer, token) };
  }

  /** The local UDP port of a transport, for $SYS `sockport` (a transport without one, e.g. a modem's: undefined). */
  private localPort(id: string): number | undefined {
    const transport = this.endpoints.get(id)?.transport as { address?: () => { port?: number } } | undefined;
    try {
      const port = transport?.address?.().port;
      return typeof port === 'number' ? port : undefined;
    } catch {
      return undefined; // a socket not bound (closing)
    }
  }

  private onRequest(req: CoapRequest, respond: Respond): void {
    const server = this.server;
    if (!server) return respond({ code: '5.03' });
    server
      .handle({ transport: req.transport, peer: req.peer, method: req.method, path: req.path, query: req.query, payload: req.payload, localPort: this.localPort(req.transport) })
      .then((r) => respond(toReply(r)), (err: Error) => {
        this.ctx?.log.error({ err: err.message }, 'LwM2M registration handling failed');
        respond({ code: '5.00' });
      });
  }

  /** An operator ends a device's registration (`id`: its client id in the registry, or its endpoint name). */
  async disconnect(id: string, reason: string): Promise<boolean> {
    return (await this.server?.kick(id, reason)) ?? false;
  }

  private sweep(): void {
    if (this.stopped) return;
    this.server?.sweep();
    this.limiter?.prune();
    for (const ep of this.endpoints.values()) ep.server.prune();
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
    this.sendLog.clear();
    for (const ep of this.endpoints.values()) ep.close();
    await this.server?.close();
    this.endpoints.clear();
    for (const s of this.sockets) {
      try {
        s.close();
      } catch {
        // already closed
      }
    }
    this.sockets.length = 0;
  }
}

function toReply(r: RdReply): { code: string; options: CoapOption[]; payload?: string } {
  const options: CoapOption[] = [];
  for (const seg of r.locationPath ?? []) options.push({ name: 'Location-Path', value: Buffer.from(seg) });
  if (r.maxAge !== undefined) options.push({ name: 'Max-Age', value: uintOption(r.maxAge) });
  return { code: r.code, options, payload: r.payload };
}
