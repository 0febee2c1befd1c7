import type { Socket } from 'node:net';
import type { Adapter, AdapterContext } from '../../gateway/core/adapter.ts';
import { PeerLog } from '../../gateway/core/peer-log.ts';
import type { TcpConfig } from './config.ts';
import { TcpConnection, type ConnectionHost } from './connection.ts';
import { listen, type Listener } from './listener.ts';
import { SessionStore } from './sessions.ts';
import { TcpStats } from './stats.ts';

/**
 * The custom TCP adapter: EMQX's private TCP protocol v1 byte for byte, plus fieldgate's
 * acknowledged v2 (docs/tcp-protocol.md). This module only wires listeners to connections; the
 * protocol lives in codec.ts/parser.ts, the per-connection state machine in connection.ts and what
 * outlives a connection in sessions.ts.
 */
export class TcpAdapter implements Adapter {
  private listeners: Listener[] = [];
  private readonly connections = new Set<TcpConnection>();
  private sessions?: SessionStore;
  private peerLog?: PeerLog;
  private running = false;

  constructor(private readonly cfg: TcpConfig) {}

  async start(ctx: AdapterContext): Promise<void> {
    const cfg = this.cfg;
    const stats = new TcpStats(ctx.metrics);
    // Malformed connections, refused logins and uplinks: one line per device address and reason per minute.
    const peerLog = new PeerLog(ctx.log);
    this.peerLog = peerLog;
    const sessions = new SessionStore(
      ctx.messages,
      {
        inflightWindow: cfg.v2.inflight_window,
        maxQueued: cfg.v2.max_queued_downlinks,
        retryInterval: cfg.v2.retry_interval,
        dedupWindow: cfg.v2.dedup_window,
        sessionExpiry: cfg.v2.session_expiry,
        maxSessions: cfg.v2.max_sessions,
      },
      stats,
      peerLog,
    );
    this.sessions = sessions;
    const host: ConnectionHost = { cfg, messages: ctx.messages, log: ctx.log, peerLog, stats, sessions, onClose: (c) => this.connections.delete(c) };
    const accept = (socket: Socket) => {
      if (!this.running || this.connections.size >= cfg.max_connections) {
        stats.connectionsRejected.inc();
        socket.destroy();
        return;
      }
      stats.connectionsTotal.inc();
      this.connections.add(new TcpConnection(socket, host));
    };
    ctx.metrics.gaugeFn('connections/count', () => this.connections.size);
    // adapters/{adapter}/sessions, as the CoAP adapter's: one Prometheus family, fieldgate_adapters_sessions.
    ctx.metrics.gaugeFn('sessions', () => sessions.size);
    this.running = true;
    const onError = (err: Error) => ctx.fail(new Error(`tcp adapter listener failed: ${err.message}`));
    try {
      this.listeners.push(await listen({ name: 'tcp', host: cfg.host, port: cfg.port }, accept, onError));
      if (cfg.tls.enabled) {
        const onTlsError = (err: Error) => {
          stats.closed('tls_error');
          ctx.log.debug({ err: err.message }, 'tcp adapter: TLS handshake failed');
        };
        this.listeners.push(await listen({ name: 'tls', host: cfg.tls.host ?? cfg.host, port: cfg.tls.port, tls: cfg.tls, handshakeTimeout: cfg.idle_timeout }, accept, onError, onTlsError));
      }
    } catch (err) {
      await this.stop();
      throw err;
    }
    ctx.log.info({ listeners: this.listeners.map((l) => `${l.name}://${cfg.host}:${l.port}`) }, 'tcp adapter listening');
  }

  /** `tcp`, and `tls` when enabled: the bound ports (a port of 0 is chosen by the OS). */
  ports(): Record<string, number> {
    return this.running ? Object.fromEntries(this.listeners.map((l) => [l.name, l.port])) : {};
  }

  /** Closes the device's socket and forgets its session (sessions.ts discard). */
  async disconnect(id: string, reason: string): Promise<boolean> {
    return (await this.sessions?.discard(id, reason)) ?? false;
  }

  async stop(): Promise<void> {
    this.running = false;
    const listeners = this.listeners;
    this.listeners = [];
    const closing = listeners.map((l) => l.close());
    for (const c of [...this.connections]) c.close('server_shutting_down');
    await Promise.all(closing);
    await this.sessions?.closeAll();
    // What was counted but not yet written goes out now, with its count.
    this.peerLog?.flush();
  }
}
