import { EventEmitter } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { Ack, DISCONNECT, GatewayReader, PING, V1, V2, ackFrame, connectFrame, dataFrame, type GatewayFrame } from './frames.ts';

// A device-side client of fieldgate's TCP protocol (v1 = EMQX private TCP, v2 = acknowledged), for
// tests and as a readable reference next to the C client in ../c/. Its frames (frames.ts) are
// written from docs/tcp-protocol.md, never taken from the adapter it tests.

export interface TcpDeviceOptions {
  host?: string;
  port: number;
  /** TLS options (e.g. { ca }) to connect through the TLS listener. */
  tls?: ConnectionOptions;
  clientid: string;
  username?: string;
  password?: string;
  /** Seconds, 0..255. */
  keepalive?: number;
  version?: 1 | 2;
  /** v2: resume the stored session on connect. */
  resume?: boolean;
  /** v2: resend an unacknowledged uplink after this long (ms). */
  retryMs?: number;
  /** v2: ACK QoS 1 downlinks as they arrive (default true). */
  autoAck?: boolean;
  connectTimeoutMs?: number;
}

export interface Downlink {
  data: Buffer;
  qos: 0 | 1;
  id?: number;
  dup: boolean;
}

export class ConnackError extends Error {
  constructor(readonly code: number, message: string) {
    super(`CONNACK ${code}: ${message}`);
    this.name = 'ConnackError';
  }
}

interface Outgoing {
  data: Buffer;
  resolve(code: number): void;
  sentAt: number;
}

/**
 * Events: 'message' (Downlink), 'close' (hadError: boolean), 'pong'.
 * Unacknowledged v2 uplinks survive `close`: the next `connect()` resends them with DUP set, which
 * is how a device gets at-least-once delivery with the gateway de-duplicating by id.
 */
export class TcpDevice extends EventEmitter {
  socket?: Socket;
  sessionPresent = false;
  private reader?: GatewayReader;
  private nextId = 1;
  private readonly outbox = new Map<number, Outgoing>();
  private retryTimer?: NodeJS.Timeout;

  constructor(readonly opts: TcpDeviceOptions) {
    super();
  }

  get version(): number {
    return this.opts.version ?? V1;
  }

  get unacked(): number {
    return this.outbox.size;
  }

  /** Opens the socket, sends CONNECT, resolves on CONNACK 0, rejects with ConnackError otherwise. */
  connect(): Promise<void> {
    const o = this.opts;
    const host = o.host ?? '127.0.0.1';
    return new Promise<void>((resolve, reject) => {
      const sock = o.tls ? tlsConnect({ host, port: o.port, ...o.tls }) : netConnect({ host, port: o.port });
      this.socket = sock;
      sock.setNoDelay(true);
      const reader = new GatewayReader(this.version);
      this.reader = reader;
      let connected = false;
      const timer = setTimeout(() => fail(new Error(`no CONNACK within ${o.connectTimeoutMs ?? 5000} ms`)), o.connectTimeoutMs ?? 5000);
      const fail = (err: Error) => {
        clearTimeout(timer);
        sock.destroy();
        reject(err);
      };
      sock.once(o.tls ? 'secureConnect' : 'connect', () => {
        sock.write(connectFrame({ version: this.version, keepalive: o.keepalive ?? 60, resume: o.resume, clientid: o.clientid, username: o.username, password: o.password }));
      });
      sock.on('data', (chunk: Buffer) => {
        let frames: GatewayFrame[];
        try {
          frames = reader.push(chunk);
        } catch (err) {
          sock.destroy(err as Error);
          return;
        }
        for (const f of frames) {
          if (!connected && f.type === 'connack') {
            clearTimeout(timer);
            if (f.code !== 0) return fail(new ConnackError(f.code, f.message));
            connected = true;
            this.sessionPresent = f.sessionPresent;
            resolve();
            this.resendAll();
            continue;
          }
          this.onFrame(f);
        }
      });
      sock.on('error', (err) => {
        if (!connected) fail(err);
      });
      sock.on('close', (hadError) => {
        clearTimeout(timer);
        if (this.retryTimer) clearTimeout(this.retryTimer);
        this.retryTimer = undefined;
        if (!connected) reject(new Error('connection closed before CONNACK'));
        this.emit('close', hadError);
      });
    });
  }

  private onFrame(f: GatewayFrame): void {
    if (f.type === 'pong') {
      this.emit('pong');
    } else if (f.type === 'ack') {
      const out = this.outbox.get(f.id);
      if (!out) return;
      if (f.code === Ack.RETRY_LATER) return; // stays in the outbox; the retry timer sends it again
      this.outbox.delete(f.id);
      out.resolve(f.code);
    } else if (f.type === 'data') {
      if (f.qos === 1 && f.id !== undefined && this.opts.autoAck !== false) this.ack(f.id);
      this.emit('message', { data: f.data, qos: f.qos, id: f.id, dup: f.dup } satisfies Downlink);
    }
  }

  /** QoS 0 uplink (v1 and v2): fire and forget. */
  send(data: Buffer | string): void {
    this.write(dataFrame(typeof data === 'string' ? Buffer.from(data) : data));
  }

  /**
   * v2 QoS 1 uplink. Resolves with the gateway's ACK code (0 = durably accepted) — possibly after
   * reconnects, since the message stays in the outbox until acknowledged.
   */
  publish(data: Buffer | string): Promise<number> {
    if (this.version !== V2) throw new Error('acknowledged publish needs protocol version 2');
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    let id = this.nextId;
    while (this.outbox.has(id)) id = id === 0xffff ? 1 : id + 1;
    this.nextId = id === 0xffff ? 1 : id + 1;
    return new Promise<number>((resolve) => {
      this.outbox.set(id, { data: buf, resolve, sentAt: Date.now() });
      this.write(dataFrame(buf, { id }));
      this.armRetry();
    });
  }

  ack(id: number): void {
    this.write(ackFrame(id));
  }

  ping(): void {
    this.write(PING);
  }

  /** Raw bytes, for tests of malformed input. */
  write(b: Buffer): void {
    if (this.socket && !this.socket.destroyed) this.socket.write(b);
  }

  /** Polite close: DISCONNECT, then FIN. */
  async disconnect(): Promise<void> {
    const s = this.socket;
    if (!s || s.destroyed) return;
    await new Promise<void>((resolve) => {
      s.once('close', () => resolve());
      s.end(DISCONNECT);
    });
  }

  /** A dropped link: no DISCONNECT. */
  destroy(): void {
    this.socket?.destroy();
  }

  private resendAll(): void {
    for (const [id, out] of this.outbox) {
      this.write(dataFrame(out.data, { id, dup: true }));
      out.sentAt = Date.now();
    }
    this.armRetry();
  }

  private armRetry(): void {
    const ms = this.opts.retryMs;
    if (!ms || this.retryTimer || this.outbox.size === 0) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      const due = Date.now() - ms;
      for (const [id, out] of this.outbox) {
        if (out.sentAt > due) continue;
        this.write(dataFrame(out.data, { id, dup: true }));
        out.sentAt = Date.now();
      }
      this.armRetry();
    }, ms);
    this.retryTimer.unref();
  }
}

export { V1, V2 };
