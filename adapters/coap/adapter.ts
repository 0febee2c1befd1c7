// The CoAP adapter's lifecycle: binds UDP (IPv4 and, when available, IPv6), builds one
// FieldgateCoapServer per datagram transport over a shared handler, and sweeps expired state.
import { createSocket, type Socket } from 'node:dgram';
import type { Adapter, AdapterContext } from '../../gateway/core/adapter.ts';
import { RateLimiter } from '../lib/coap/bounded.ts';
import { Block1Assembler } from '../lib/coap/block.ts';
import type { CoapConfig } from './config.ts';
import { CoapHandler } from './handler.ts';
import { Observers } from './observers.ts';
import { FieldgateCoapServer, type DatagramTransport, type Peer, type ServerHooks } from './server.ts';
import { AuthCache, Sessions, addressText } from './sessions.ts';
import { replyFor, uintOption } from '../lib/coap/wire.ts';

function bind(type: 'udp4' | 'udp6', port: number, host: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const sock = createSocket({ type, ipv6Only: type === 'udp6' });
    const onError = (err: Error) => {
      sock.close();
      reject(new Error(`cannot bind CoAP ${type} on ${host}:${port}: ${err.message}`));
    };
    sock.once('error', onError);
    sock.bind(port, host, () => {
      sock.off('error', onError);
      resolve(sock);
    });
  });
}

export class CoapAdapter implements Adapter {
  private ctx?: AdapterContext;
  private handler?: CoapHandler;
  private limiter?: RateLimiter;
  private auth?: AuthCache;
  private readonly servers: FieldgateCoapServer[] = [];
  private readonly sockets: Socket[] = [];
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(private readonly cfg: CoapConfig) {}

  async start(ctx: AdapterContext): Promise<void> {
    this.ctx = ctx;
    const { cfg } = this;
    const m = ctx.metrics;
    this.limiter = new RateLimiter(cfg.limits.rate, cfg.limits.burst, cfg.limits.max_peers);
    this.auth = new AuthCache(cfg.limits.max_peers, 60_000);
    const observers = new Observers(
      { notifyType: cfg.notify_type, maxObservers: cfg.limits.max_observers, maxPerClient: cfg.limits.max_observers_per_client, maxPerAddress: cfg.limits.max_observers_per_address, leaseMs: cfg.limits.observe_lease, queueMax: cfg.limits.notify_queue, szx: Math.log2(cfg.blockwise.max_block_size) - 4, ackTimeoutMs: 2000, maxRetransmit: 4 },
      { sent: m.counter('notifications/sent'), retransmitted: m.counter('notifications/retransmitted'), droppedQueueFull: m.counter('notifications/dropped/queue_full'), cancelled: m.counter('observers/cancelled') },
      (o, why) => ctx.log.debug({ clientid: o.clientid, filter: o.filter, why }, 'CoAP observation ended'),
    );
    const assembler = new Block1Assembler({
      maxBody: cfg.blockwise.max_body_size,
      maxBuffered: cfg.blockwise.max_buffered,
      maxPerPeer: 4,
      maxTransfers: 1024,
      timeoutMs: cfg.blockwise.timeout,
    });
    const sessions = new Sessions(cfg.limits.max_sessions);
    this.handler = new CoapHandler(cfg, ctx, sessions, observers, assembler, this.auth);
    m.gaugeFn('observers', () => observers.size);
    m.gaugeFn('sessions', () => sessions.size);
    m.gaugeFn('block1/buffered_bytes', () => assembler.bufferedBytes);
    m.gaugeFn('dedup/entries', () => this.servers.reduce((n, s) => n + s.dedupSize, 0));
    m.gaugeFn('peers/tracked', () => this.limiter?.tracked ?? 0);

    const v4 = await bind('udp4', cfg.port, cfg.host);
    this.sockets.push(v4);
    const port = v4.address().port;
    m.gaugeFn('port', () => port);
    this.attach('udp4', v4);
    if (cfg.ipv6.enabled) {
      try {
        const v6 = await bind('udp6', port, cfg.ipv6.host);
        this.sockets.push(v6);
        m.gaugeFn('port6', () => v6.address().port);
        this.attach('udp6', v6);
      } catch (err) {
        // Hosts without IPv6 (some containers, trimmed Pi images) still get IPv4 service.
        ctx.log.warn({ err: (err as Error).message }, 'CoAP over IPv6 unavailable; serving IPv4 only');
      }
    }
    for (const s of this.sockets) s.on('error', (err) => ctx.fail(new Error(`CoAP socket failed: ${err.message}`)));
    const sweepMs = Math.max(50, Math.min(1000, cfg.heartbeat / 4));
    this.timer = setInterval(() => this.sweep(), sweepMs);
    this.timer.unref();
    ctx.log.info({ port, host: cfg.host, ipv6: this.sockets.length > 1, connection_required: cfg.connection_required, mountpoint: cfg.mountpoint }, 'CoAP listening');
  }

  /**
   * Serves CoAP over a datagram transport: a UDP socket here, the datagrams of an NB-IoT modem's
   * socket later. `id` names the transport in peer keys and logs.
   */
  attach(id: string, transport: DatagramTransport): FieldgateCoapServer {
    const ctx = this.ctx;
    const handler = this.handler;
    if (!ctx || !handler) throw new Error(`CoAP adapter not started: cannot attach transport ${id}`);
    const server = new FieldgateCoapServer(id, { dedupEntries: this.cfg.limits.dedup_cache, block2Entries: 256, piggybackReplyMs: this.cfg.piggyback_timeout }, this.hooks());
    server.on('request', (req, res) => handler.handle(server, req, res));
    server.on('error', (err: Error) => ctx.log.warn({ transport: id, err: err.message }, 'CoAP transport error'));
    server.listen(transport as never);
    this.servers.push(server);
    return server;
  }

  /** Stops serving a transport attached with attach() (the modem's socket closed). */
  detach(server: FieldgateCoapServer): void {
    const i = this.servers.indexOf(server);
    if (i < 0) return;
    this.servers.splice(i, 1);
    server.close();
  }

  private hooks(): ServerHooks {
    const ctx = this.ctx!;
    const m = ctx.metrics;
    const malformed = m.counter('malformed');
    const limited = m.counter('rate_limited');
    const requests = m.counter('requests');
    return {
      intercept: (packet, peer: Peer, server) => {
        if (packet.ack || packet.reset) return this.handler!.observers.onReply(server, peer, packet.messageId, packet.reset);
        requests.inc();
        // Per IP address, not ip:port: rotating source ports must not buy a fresh bucket each time.
        const key = `${server.id}|${peer.address}`;
        if (this.limiter!.take(key)) return false;
        limited.inc();
        // RFC 8516 4.29 Too Many Requests, Max-Age = seconds until a request fits again. A NON
        // request is dropped without reply: answering a flood would only double it.
        if (packet.confirmable) {
          const wait = Math.max(1, Math.ceil(this.limiter!.retryAfterMs(key) / 1000));
          server.sendRaw(replyFor(packet, '4.29', [{ name: 'Max-Age', value: uintOption(wait) }]), peer);
        }
        return true;
      },
      malformed: (reason, peer) => {
        malformed.inc();
        ctx.log.debug({ peer: addressText(peer), reason }, 'malformed CoAP datagram');
      },
      internalError: (err, peer) => ctx.log.error({ peer: addressText(peer), err: err.message }, 'CoAP request processing failed'),
    };
  }

  private sweep(): void {
    if (this.stopped) return;
    void this.handler?.expireSessions().catch((err: Error) => this.ctx?.log.error({ err: err.message }, 'CoAP session sweep failed'));
    void this.handler?.expireObservations().catch((err: Error) => this.ctx?.log.error({ err: err.message }, 'CoAP observation sweep failed'));
    this.limiter?.prune();
    this.auth?.prune();
    this.handler?.assembler.prune();
    this.handler?.observers.snapshots.prune();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.handler?.observers.clear();
    this.handler?.assembler.clear();
    this.auth?.clear();
    for (const s of this.servers) s.close();
    for (const s of this.sockets) {
      try {
        s.close();
      } catch {
        // already closed
      }
    }
    this.servers.length = 0;
    this.sockets.length = 0;
  }
}
