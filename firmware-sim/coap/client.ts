// A small CoAP client for simulated sensors, tests and benchmarks: raw UDP + coap-packet, so it
// can do what a device does (CON/NON, Observe, a fresh source port, malformed bytes) with nothing
// hidden. Not a full RFC 7252 client: no Block-wise, no proxying.
import { createSocket, type Socket } from 'node:dgram';
import { EventEmitter } from 'node:events';
import { generate, parse, type ParsedPacket } from 'coap-packet';

export interface CoapResponse {
  code: string;
  payload: Buffer;
  token: Buffer;
  options: ParsedPacket['options'];
  /** How it arrived: piggy-backed in an ACK, or as a separate CON/NON. */
  type: 'ACK' | 'CON' | 'NON';
  observe?: number;
  option(name: string): Buffer | undefined;
}

export interface RequestOptions {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  query?: Record<string, string | number | undefined>;
  payload?: Buffer | string;
  confirmable?: boolean;
  observe?: 0 | 1;
  token?: Buffer;
  options?: { name: string; value: Buffer }[];
  /** Give up after this long (default 10 s). */
  timeoutMs?: number;
  /** Retransmit CON requests per RFC 7252 (default true). */
  retransmit?: boolean;
}

interface Pending {
  mid: number;
  token: string;
  resolve(r: CoapResponse): void;
  reject(e: Error): void;
  timers: NodeJS.Timeout[];
}

function toResponse(p: ParsedPacket): CoapResponse {
  const option = (name: string) => p.options.find((o) => String(o.name) === name)?.value;
  const obs = option('Observe');
  return {
    code: p.code,
    payload: p.payload,
    token: p.token,
    options: p.options,
    type: p.ack ? 'ACK' : p.confirmable ? 'CON' : 'NON',
    observe: obs ? obs.reduce((v, b) => v * 256 + b, 0) : undefined,
    option,
  };
}

export function uriOptions(path: string, query: RequestOptions['query'] = {}): { name: string; value: Buffer }[] {
  const opts: { name: string; value: Buffer }[] = [];
  for (const seg of path.replace(/^\//, '').split('/')) if (seg !== '' || path !== '/') opts.push({ name: 'Uri-Path', value: Buffer.from(seg) });
  for (const [k, v] of Object.entries(query)) if (v !== undefined) opts.push({ name: 'Uri-Query', value: Buffer.from(`${k}=${v}`) });
  return opts;
}

/** Emits 'notification' (CoapResponse) for responses on an observed token after the first. */
export class CoapClient extends EventEmitter {
  private readonly pending = new Map<string, Pending>();
  private readonly observing = new Set<string>();
  private mid = Math.floor(Math.random() * 0x10000);
  private tokenSeq = Math.floor(Math.random() * 0x7fffffff);
  private closed = false;

  private constructor(readonly socket: Socket, readonly host: string, readonly port: number) {
    super();
    socket.on('message', (msg) => this.onMessage(msg));
    socket.on('error', () => {});
  }

  /** A client with its own UDP socket (its own source port), like one device. */
  /** `localAddress` picks the source address (tests use 127.0.0.x to be many hosts). */
  static open(host: string, port: number, localAddress?: string): Promise<CoapClient> {
    const type = host.includes(':') ? 'udp6' : 'udp4';
    const sock = createSocket(type);
    return new Promise((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(0, localAddress, () => {
        sock.off('error', reject);
        resolve(new CoapClient(sock, host, port));
      });
    });
  }

  get localPort(): number {
    return this.socket.address().port;
  }

  nextToken(): Buffer {
    this.tokenSeq = (this.tokenSeq + 1) >>> 0;
    const b = Buffer.alloc(4);
    b.writeUInt32BE(this.tokenSeq);
    return b;
  }

  sendRaw(buf: Buffer): void {
    this.socket.send(buf, this.port, this.host);
  }

  request(o: RequestOptions): Promise<CoapResponse> {
    if (this.closed) return Promise.reject(new Error('client closed'));
    this.mid = (this.mid + 1) & 0xffff;
    const mid = this.mid;
    const token = o.token ?? this.nextToken();
    const options = [...uriOptions(o.path, o.query), ...(o.options ?? [])];
    if (o.observe !== undefined) options.push({ name: 'Observe', value: o.observe === 0 ? Buffer.alloc(0) : Buffer.from([o.observe]) });
    const con = o.confirmable ?? true;
    const buf = generate({
      code: o.method,
      messageId: mid,
      token,
      confirmable: con,
      options: options as never,
      payload: typeof o.payload === 'string' ? Buffer.from(o.payload) : o.payload,
    });
    const key = token.toString('hex');
    if (o.observe === 0) this.observing.add(key);
    return new Promise((resolve, reject) => {
      const p: Pending = { mid, token: key, resolve, reject, timers: [] };
      this.pending.set(key, p);
      const done = () => {
        for (const t of p.timers) clearTimeout(t);
        this.pending.delete(key);
      };
      p.resolve = (r) => {
        done();
        resolve(r);
      };
      p.reject = (e) => {
        done();
        reject(e);
      };
      p.timers.push(setTimeout(() => p.reject(new Error(`no response to ${o.method} ${o.path} within ${o.timeoutMs ?? 10_000} ms`)), o.timeoutMs ?? 10_000));
      this.socket.send(buf, this.port, this.host);
      if (con && o.retransmit !== false) {
        // RFC 7252 4.2: ACK_TIMEOUT 2 s x random factor, doubling, MAX_RETRANSMIT 4.
        let wait = 2000 * (1 + Math.random() * 0.5);
        let at = 0;
        for (let i = 0; i < 4; i++) {
          at += wait;
          wait *= 2;
          p.timers.push(setTimeout(() => this.socket.send(buf, this.port, this.host), at));
        }
      }
    });
  }

  /** Treats `token` as an observation made elsewhere (the same device after a NAT rebinding). */
  watch(token: Buffer): void {
    this.observing.add(token.toString('hex'));
  }

  /** Stops treating `token` as an observation (after a deregistration). */
  forget(token: Buffer): void {
    this.observing.delete(token.toString('hex'));
  }

  private onMessage(msg: Buffer): void {
    let p: ParsedPacket;
    try {
      p = parse(msg);
    } catch {
      return;
    }
    if (p.reset) {
      for (const q of this.pending.values()) if (q.mid === p.messageId) q.reject(new Error('request was reset (RST)'));
      this.emit('reset', p.messageId);
      return;
    }
    if (p.code === '0.00') {
      // An empty ACK: a separate response follows; stop retransmitting.
      for (const q of this.pending.values()) if (q.mid === p.messageId) for (const t of q.timers.slice(1)) clearTimeout(t);
      return;
    }
    const key = p.token.toString('hex');
    const q = this.pending.get(key);
    const known = (q && (!p.ack || q.mid === p.messageId)) || this.observing.has(key);
    // A CON we can place is acknowledged; one we cannot is rejected (RFC 7252 4.2), which also
    // cancels a stale observation on the server (RFC 7641 3.6).
    if (p.confirmable) this.socket.send(generate({ code: '0.00', messageId: p.messageId, ack: known, reset: !known }), this.port, this.host);
    if (!known) return;
    const res = toResponse(p);
    if (q && (!p.ack || q.mid === p.messageId)) return q.resolve(res);
    this.emit('notification', res);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const q of [...this.pending.values()]) q.reject(new Error('client closed'));
    this.socket.close();
  }
}
