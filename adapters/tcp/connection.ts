import type { Socket } from 'node:net';
import type { AdapterContext, DeviceIdentity, MessageApi } from '../../gateway/core/adapter.ts';
import { deviceIp, ipPort } from '../../gateway/core/identity.ts';
import { PublishRejected } from '../../gateway/core/message.ts';
import type { PeerLog } from '../../gateway/core/peer-log.ts';
import {
  AckCode,
  ConnackCode,
  FrameError,
  FrameType,
  PONG,
  V1,
  V2,
  decodeAck,
  decodeConnect,
  decodeData,
  encodeAck,
  encodeConnack,
  hexPreview,
  type ConnectPacket,
  type RawFrame,
} from './codec.ts';
import type { TcpConfig } from './config.ts';
import { FrameParser } from './parser.ts';
import type { DeviceSession } from './session.ts';
import type { SessionOwner, SessionStore } from './sessions.ts';
import type { TcpStats } from './stats.ts';

/** What every connection shares: built once by the adapter. */
export interface ConnectionHost {
  cfg: TcpConfig;
  messages: MessageApi;
  log: AdapterContext['log'];
  /** Lines a device can repeat by reconnecting: one per address (not address:port) and reason per minute. */
  peerLog: PeerLog;
  stats: TcpStats;
  sessions: SessionStore;
  onClose(conn: TcpConnection): void;
}

/** A send buffer above this marks the device as slow: QoS 0 downlinks are dropped, not buffered. */
const WRITE_HIGH_WATER = 256 * 1024;
/** After a close that flushes a last frame (CONNACK 1), how long the peer gets to read it. */
const LINGER_MS = 2000;
/** Payload bytes queued per connection before reading stops (with max_pending_frames, the memory bound). */
const MAX_PENDING_BYTES = 64 * 1024;
/** Frames handled between two flushes of corked replies. */
const CORK_FRAMES = 16;
/**
 * Idle time before the OS starts TCP keepalive probes (SO_KEEPALIVE). A device with keepalive 0
 * has no timer of ours, so without probes a peer that vanished (power cut, NAT dropped the mapping)
 * would leave a half-open connection, and its session, forever.
 */
export const TCP_KEEPALIVE_MS = 120_000;

type State = 'awaiting_connect' | 'connecting' | 'connected' | 'closed';

/** Reasons that mean the device sent something wrong: logged at warn, rate-limited per address and reason. */
const BAD_INPUT = new Set(['parse_error', 'frame_too_large', 'protocol_not_connected', 'protocol_has_connected', 'not_supported_version', 'invalid_clientid']);

// Client ids become topic levels (%c) and $SYS topic levels: wildcards and NUL would change a
// topic's meaning, and an unbounded id is an unbounded cost per device.
function invalidClientId(id: string): string | undefined {
  if (id.length === 0) return 'empty client id';
  if (Buffer.byteLength(id) > 256) return 'client id longer than 256 bytes';
  if (/[+#\u0000]/.test(id)) return 'client id contains "+", "#" or NUL';
  return undefined;
}

export function expandTopic(template: string, clientid: string, username: string | undefined): string {
  return template.replaceAll('%c', clientid).replaceAll('%u', username ?? '');
}

/**
 * One device connection: the v1/v2 state machine. Bytes go through the streaming parser into a
 * bounded inbox that is handled one frame at a time, so a device's messages reach the broker in
 * the order they were sent and an ACK never overtakes the publish it acknowledges.
 */
export class TcpConnection implements SessionOwner {
  private state: State = 'awaiting_connect';
  private readonly parser: FrameParser;
  private readonly inbox: (RawFrame | FrameError)[] = [];
  private inboxBytes = 0;
  private pumping = false;
  private paused = false;
  private timer?: NodeJS.Timeout;
  version = V1;
  private device?: DeviceIdentity;
  private session?: DeviceSession;
  private upTopic = '';
  private gone = false;
  private goneDetail?: string;
  readonly address: string;
  /** The peer's IP without the port: what its log lines are grouped by (a new connection has a new port). */
  private readonly ip: string | undefined;

  constructor(private readonly socket: Socket, private readonly host: ConnectionHost) {
    this.address = socket.remoteAddress === undefined ? '?:0' : ipPort(socket.remoteAddress, socket.remotePort ?? 0);
    this.ip = deviceIp({ transport: 'tcp', address: this.address });
    this.parser = new FrameParser({ maxPayload: host.cfg.max_packet_size, role: 'server' });
    socket.setNoDelay(true);
    socket.setKeepAlive(true, TCP_KEEPALIVE_MS);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.peerGone());
    socket.on('error', (err: NodeJS.ErrnoException) => this.peerGone(err.code ?? err.message));
    socket.on('close', () => this.peerGone());
    this.timer = setTimeout(() => this.close('idle_timeout', `no CONNECT within ${host.cfg.idle_timeout} ms`), host.cfg.idle_timeout);
  }

  get closed(): boolean {
    return this.state === 'closed';
  }

  // --- SessionOwner ---------------------------------------------------------------------------

  send(frame: Buffer): boolean {
    if (this.state === 'closed' || this.gone || !this.socket.writable) return false;
    if (this.socket.writableLength > WRITE_HIGH_WATER) return false;
    this.socket.write(frame);
    this.host.stats.bytesOut.inc(frame.length);
    return true;
  }

  kick(reason: string): void {
    this.close(reason);
  }

  // --- input ----------------------------------------------------------------------------------

  private onData(chunk: Buffer): void {
    if (this.state === 'closed') return;
    this.host.stats.bytesIn.inc(chunk.length);
    // Any byte counts as life (emqx-tcp checks bytes received, not PINGs).
    if (this.state === 'connected' && this.timer) this.timer.refresh();
    const err = this.parser.push(chunk, this.enqueue);
    if (err) this.inbox.push(err);
    if (this.parser.blocked && !this.paused) {
      // The inbox is full: stop reading, and TCP flow control pushes back on the device.
      this.paused = true;
      this.socket.pause();
    }
    if (!this.pumping) void this.pump();
  }

  /** Parser callback: queue the frame; false (stop parsing) once the inbox is at its bound. */
  private readonly enqueue = (f: RawFrame): boolean => {
    this.inbox.push(f);
    this.inboxBytes += f.payload.length;
    return this.inbox.length < this.host.cfg.max_pending_frames && this.inboxBytes < MAX_PENDING_BYTES;
  };

  /** Refills the inbox from bytes the parser held back, and reads the socket again once it can. */
  private refill(): void {
    if (!this.parser.blocked) return;
    // These bytes arrived a while ago; a device we were too busy to read is not a dead one.
    if (this.state === 'connected') this.timer?.refresh();
    const err = this.parser.resume(this.enqueue);
    if (err) this.inbox.push(err);
    if (!this.parser.blocked && this.paused && !this.closed) {
      this.paused = false;
      this.socket.resume();
    }
  }

  /**
   * The device hung up (FIN, reset). Frames it sent before that are still handled, in order: a
   * DATATRANS followed by a close must be published, and a DISCONNECT still counts as `normal`.
   */
  private peerGone(detail?: string): void {
    if (this.state === 'closed') return;
    this.goneDetail = detail ?? this.goneDetail ?? 'peer closed the connection';
    this.gone = true;
    if (!this.pumping && this.inbox.length === 0) this.close('tcp_closed', this.goneDetail);
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    // Replies (ACK, PONG) to a burst of frames leave in one write instead of a syscall each; the
    // cork is lifted at least every CORK_FRAMES so a device that never pauses still hears back.
    const sock = this.socket;
    sock.cork();
    let handled = 0;
    try {
      while (this.inbox.length > 0 && this.state !== 'closed') {
        const item = this.inbox.shift() as RawFrame | FrameError;
        if (item instanceof FrameError) {
          this.close(item.reason, item.message);
          break;
        }
        this.inboxBytes -= item.payload.length;
        await this.handle(item);
        if (++handled % CORK_FRAMES === 0 && !sock.destroyed) {
          sock.uncork();
          sock.cork();
        }
        if (this.inbox.length === 0) this.refill();
      }
    } catch (err) {
      // A bug, not bad input: still only this connection pays for it.
      this.host.log.error({ err, clientid: this.device?.id, address: this.address }, `tcp connection failed: ${(err as Error).message}`);
      this.close('internal_error', (err as Error).message);
    } finally {
      this.pumping = false;
      if (!sock.destroyed) sock.uncork();
    }
    if (this.gone && !this.closed) this.close('tcp_closed', this.goneDetail);
  }

  private async handle(f: RawFrame): Promise<void> {
    if (f.type === FrameType.CONNECT) {
      if (this.state !== 'awaiting_connect') return this.close('protocol_has_connected', 'a second CONNECT');
      return this.onConnect(f);
    }
    if (this.state === 'awaiting_connect') return this.close('protocol_not_connected', `frame type ${f.type} before CONNECT (${hexPreview(f.payload, 8)})`);
    try {
      switch (f.type) {
        case FrameType.DATATRANS:
          return await this.onDataTrans(f);
        case FrameType.PING:
          this.send(PONG);
          return;
        case FrameType.DISCONNECT:
          return this.close('normal');
        case FrameType.ACK:
          if (this.version !== V2) return this.close('parse_error', 'ACK frame (type 7) is reserved in v1');
          this.session?.acked(decodeAck(f).id);
          return;
      }
    } catch (err) {
      if (err instanceof FrameError) return this.close(err.reason, err.message);
      throw err;
    }
  }

  // --- CONNECT --------------------------------------------------------------------------------

  private async onConnect(f: RawFrame): Promise<void> {
    this.state = 'connecting';
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (f.flags !== V1 && f.flags !== V2) {
      // EMQX's doc defines CONNACK 2 for this; emqx-tcp itself just closed. Say why, then close.
      this.send(encodeConnack(ConnackCode.ILLEGAL_VERSION));
      return this.close('not_supported_version', `CONNECT version ${f.flags}`, true);
    }
    this.version = f.flags;
    let p: ConnectPacket;
    try {
      p = decodeConnect(f.flags, f.payload);
    } catch (err) {
      return this.close('parse_error', (err as Error).message);
    }
    const v2 = p.version === V2 ? false : undefined; // v2 CONNACKs carry a session-present byte
    const bad = invalidClientId(p.clientid);
    if (bad) {
      this.send(encodeConnack(ConnackCode.INVALID_CLIENTID, undefined, v2));
      return this.close('invalid_clientid', bad, true);
    }
    const device: DeviceIdentity = { protocol: 'tcp', transport: 'tcp', id: p.clientid, address: this.address, username: p.username };
    const auth = await this.host.messages.authenticate(device, p.password);
    if (this.closed) return;
    if (!auth.ok) {
      this.host.peerLog.event(auth.reason, this.ip, { clientid: p.clientid, username: p.username, address: this.address }, `tcp device ${p.clientid} refused: ${auth.detail}`);
      this.send(encodeConnack(ConnackCode.AUTH_FAILED, undefined, v2));
      return this.close(auth.reason, auth.detail, true);
    }
    const opened = await this.host.sessions.open(this, p, device, expandTopic(this.host.cfg.dn_topic, p.clientid, p.username));
    if (!opened) return;
    if (this.closed) {
      // Closed while the session was being opened: close() could not release what it did not hold yet.
      this.host.sessions.release(this, p.clientid, p.version);
      return;
    }
    this.device = device;
    this.session = opened.session;
    this.upTopic = expandTopic(this.host.cfg.up_topic, p.clientid, p.username);
    this.state = 'connected';
    this.host.messages.deviceConnected(device, { keepalive: p.keepalive, proto_name: 'tcp', proto_ver: p.version, sockport: this.socket.localPort });
    this.send(encodeConnack(ConnackCode.SUCCESS, undefined, p.version === V2 ? opened.present : undefined));
    if (p.keepalive > 0) {
      const ms = Math.round(p.keepalive * 1000 * this.host.cfg.keepalive_backoff);
      this.timer = setTimeout(() => this.close('keepalive_timeout', `no bytes for ${ms} ms (keepalive ${p.keepalive} s)`), ms);
    }
    if (opened.present) opened.session.resend();
    else opened.session.pump();
  }

  // --- DATATRANS up ---------------------------------------------------------------------------

  private async onDataTrans(f: RawFrame): Promise<void> {
    const d = decodeData(this.version, f);
    if (d.qos === 0 || d.id === undefined) {
      await this.publish(d.data, 0);
      return;
    }
    const s = this.session as DeviceSession;
    const id = d.id;
    // Only a frame marked DUP can be a copy. Without DUP the id is being used for a new message
    // (a device that rebooted and restarted its counter): publish it, never swallow it, and forget
    // what the window says about the id: that was the old message, and a DUP of the new one must
    // not be answered with it.
    if (!d.dup) {
      s.dedup.delete(id);
    } else {
      const known = s.dedup.get(id);
      if (known !== undefined) {
        // Accepted (or refused for good) before: the device missed our ACK. Answer again, publish nothing.
        this.host.stats.duplicate.inc();
        this.ack(id, known);
        return;
      }
      const inProgress = s.pending.get(id);
      if (inProgress) {
        // The first copy is still being accepted (for a connection that dropped): share its outcome.
        this.host.stats.duplicate.inc();
        this.ack(id, await inProgress);
        return;
      }
    }
    const outcome = this.publish(d.data, 1);
    s.pending.set(id, outcome);
    let code: number;
    let latest = false;
    try {
      code = await outcome;
    } finally {
      // Still the newest use of the id? A rebooted device may have sent a new message with it meanwhile.
      latest = s.pending.get(id) === outcome;
      if (latest) s.pending.delete(id);
    }
    // Only the newest use of an id may speak for it in the window. RETRY_LATER invites a resend,
    // which must be published: the id is not remembered (and any older outcome for it is
    // forgotten), so the DUP that follows is handled as the first copy.
    if (latest) {
      if (code === AckCode.RETRY_LATER) s.dedup.delete(id);
      else s.dedup.set(id, code);
    }
    this.ack(id, code);
  }

  private ack(id: number, code: number): void {
    if (this.send(encodeAck(id, code)) && code === AckCode.ACCEPTED) this.host.stats.acked.inc();
  }

  /** Publishes to up_topic; resolves with the v2 ACK code. Never rejects. */
  private async publish(data: Buffer, qos: 0 | 1): Promise<number> {
    const device = this.device as DeviceIdentity;
    try {
      await this.host.messages.publish({ topic: this.upTopic, payload: data, qos, retain: false, device });
      this.host.stats.received.inc();
      return AckCode.ACCEPTED;
    } catch (err) {
      const reason = err instanceof PublishRejected ? err.reason : 'unavailable';
      this.host.stats.dropped(reason);
      // A device retrying in a loop (or reconnecting to) must not flood the log: rate-limited per address and reason.
      this.host.peerLog.event(reason, this.ip, { clientid: device.id, address: this.address, topic: this.upTopic }, `tcp uplink from ${device.id} dropped: ${(err as Error).message}`);
      if (reason === 'not_authorized') return AckCode.NOT_AUTHORIZED;
      if (reason === 'invalid_topic' || reason === 'too_large') return AckCode.REJECTED;
      return AckCode.RETRY_LATER;
    }
  }

  // --- closing --------------------------------------------------------------------------------

  /**
   * Ends the connection once, for `reason` (an EMQX disconnect reason). `flush` lets a final frame
   * already written (CONNACK 1/2) reach the device before the socket goes.
   */
  close(reason: string, detail?: string, flush = false): void {
    if (this.state === 'closed') return;
    const wasConnected = this.state === 'connected';
    this.state = 'closed';
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.inbox.length = 0;
    this.inboxBytes = 0;
    const h = this.host;
    h.stats.closed(reason);
    const fields = { clientid: this.device?.id, address: this.address, detail };
    if (BAD_INPUT.has(reason)) h.peerLog.event(reason, this.ip, fields, `closing tcp connection from ${this.address}: ${reason}${detail ? ` (${detail})` : ''}`);
    else h.log.debug({ ...fields, reason }, `tcp connection closed: ${reason}`);
    if (flush && !this.socket.destroyed) {
      this.socket.end();
      setTimeout(() => this.socket.destroy(), LINGER_MS).unref();
    } else {
      this.socket.destroy();
    }
    if (wasConnected && this.device) {
      h.sessions.release(this, this.device.id, this.version);
      h.messages.deviceDisconnected(this.device, reason);
    }
    h.onClose(this);
  }
}
