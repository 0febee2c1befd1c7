import { connect as netConnect, type Socket } from 'node:net';
import type { Aedes, Client } from 'aedes';

// An MQTT 3.1.1 client written from the spec (OASIS MQTT 3.1.1, section 2 and 3), byte by byte,
// for conformance tests: it shares no parser with aedes or MQTT.js, so a bug there cannot hide.

export interface RawPacket {
  type: number; // the fixed header's packet type (1 CONNECT ... 14 DISCONNECT)
  flags: number;
  body: Buffer;
}

export const CONNACK = 2;
export const PUBLISH = 3;
export const PUBACK = 4;
export const SUBACK = 9;
export const UNSUBACK = 11;
export const PINGRESP = 13;

function remainingLength(n: number): Buffer {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Buffer.from(out);
}

function str(s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  const len = Buffer.alloc(2);
  len.writeUInt16BE(b.length);
  return Buffer.concat([len, b]);
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

export function frame(type: number, flags: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([(type << 4) | flags]), remainingLength(body.length), body]);
}

export interface ConnectOptions {
  clientId: string;
  clean?: boolean;
  keepalive?: number;
  username?: string;
  password?: string;
}

/** CONNECT, MQTT 3.1.1 (protocol name "MQTT", level 4), section 3.1. */
export function connectPacket(o: ConnectOptions): Buffer {
  let flags = 0;
  if (o.clean !== false) flags |= 0x02;
  if (o.username !== undefined) flags |= 0x80;
  if (o.password !== undefined) flags |= 0x40;
  const parts = [str('MQTT'), Buffer.from([4, flags]), u16(o.keepalive ?? 0), str(o.clientId)];
  if (o.username !== undefined) parts.push(str(o.username));
  if (o.password !== undefined) parts.push(str(o.password));
  return frame(1, 0, Buffer.concat(parts));
}

/** PUBLISH (section 3.3); `topic` may be raw bytes to send what a string cannot. */
export function publishPacket(topic: string | Buffer, payload: string | Buffer, qos = 0, id = 1, retain = false): Buffer {
  const parts = [str(topic)];
  if (qos > 0) parts.push(u16(id));
  parts.push(Buffer.from(payload));
  return frame(3, (qos << 1) | (retain ? 1 : 0), Buffer.concat(parts));
}

/** SUBSCRIBE (section 3.8): fixed header flags must be 0010. */
export function subscribePacket(id: number, subs: [string, number][]): Buffer {
  return frame(8, 2, Buffer.concat([u16(id), ...subs.map(([f, q]) => Buffer.concat([str(f), Buffer.from([q])]))]));
}

export function pubackPacket(id: number): Buffer {
  return frame(4, 0, u16(id));
}

export const DISCONNECT = frame(14, 0, Buffer.alloc(0));

/** A decoded PUBLISH body. */
export function parsePublish(p: RawPacket): { topic: string; id?: number; payload: Buffer; qos: number; retain: boolean } {
  const qos = (p.flags >> 1) & 3;
  const tlen = p.body.readUInt16BE(0);
  const topic = p.body.subarray(2, 2 + tlen).toString('utf8');
  let at = 2 + tlen;
  let id: number | undefined;
  if (qos > 0) {
    id = p.body.readUInt16BE(at);
    at += 2;
  }
  return { topic, id, payload: p.body.subarray(at), qos, retain: (p.flags & 1) === 1 };
}

/** A TCP connection that splits what arrives into MQTT control packets. */
export class RawClient {
  readonly packets: RawPacket[] = [];
  closed = false;
  private buf = Buffer.alloc(0);
  private waiters: (() => void)[] = [];

  private constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.split();
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => {});
  }

  /** `localAddress` picks the source address (any 127.x.y.z works on Linux loopback). */
  static open(port: number, host = '127.0.0.1', localAddress?: string): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = netConnect({ port, host, localAddress }, () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }

  /** Opens a connection and completes CONNECT; resolves with the CONNACK return code. */
  static async connect(port: number, o: ConnectOptions, localAddress?: string): Promise<{ client: RawClient; code: number; sessionPresent: boolean }> {
    const client = await RawClient.open(port, '127.0.0.1', localAddress);
    client.send(connectPacket(o));
    const ack = await client.next(CONNACK);
    return { client, code: ack.body[1]!, sessionPresent: (ack.body[0]! & 1) === 1 };
  }

  private split(): void {
    for (;;) {
      if (this.buf.length < 2) return;
      let len = 0;
      let mul = 1;
      let i = 1;
      for (;; i++) {
        if (i >= this.buf.length) return;
        const b = this.buf[i]!;
        len += (b & 0x7f) * mul;
        mul *= 128;
        if (!(b & 0x80)) break;
      }
      const total = i + 1 + len;
      if (this.buf.length < total) return;
      const h = this.buf[0]!;
      this.packets.push({ type: h >> 4, flags: h & 15, body: Buffer.from(this.buf.subarray(i + 1, total)) });
      this.buf = this.buf.subarray(total);
    }
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  send(b: Buffer): void {
    this.socket.write(b);
  }

  /** The next packet of `type` (taking it out of `packets`); rejects if the connection closes first. */
  async next(type: number, timeoutMs = 10_000): Promise<RawPacket> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.packets.findIndex((p) => p.type === type);
      if (i >= 0) return this.packets.splice(i, 1)[0]!;
      if (this.closed) throw new Error(`connection closed before packet type ${type} arrived`);
      if (Date.now() > deadline) throw new Error(`no packet of type ${type} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Resolves once the server has closed the connection; rejects after `timeoutMs`. */
  async waitClosed(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('the server did not close the connection');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  async subscribe(id: number, subs: [string, number][]): Promise<number[]> {
    this.send(subscribePacket(id, subs));
    const ack = await this.next(SUBACK);
    return [...ack.body.subarray(2)];
  }

  end(): void {
    if (!this.closed) this.socket.end(DISCONNECT);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Records the payload of every PUBLISH the client gets (also those already read) and PUBACKs each one `ack` accepts. */
export function recordPublishes(client: RawClient, ack: (payload: string) => boolean = () => true): string[] {
  const got: string[] = [];
  const take = () => {
    for (let k = client.packets.findIndex((p) => p.type === PUBLISH); k >= 0; k = client.packets.findIndex((p) => p.type === PUBLISH)) {
      const p = parsePublish(client.packets.splice(k, 1)[0]!);
      got.push(p.payload.toString());
      if (p.id && ack(p.payload.toString())) client.send(pubackPacket(p.id));
    }
  };
  client.socket.on('data', take);
  take();
  return got;
}

/** Publishes each job at QoS 1 to `topic` from a new client, waiting for each PUBACK (its live deliveries have been written by then). */
export async function publishAcked(port: number, clientId: string, jobs: string[], topic = 'jobs/x'): Promise<void> {
  const pub = (await RawClient.connect(port, { clientId })).client;
  let id = 1;
  for (const job of jobs) {
    pub.send(publishPacket(topic, job, 1, id++));
    await pub.next(PUBACK);
  }
  pub.end();
}

/** The aedes client of the latest connection with this client id, from aedes's public 'client' event (undefined before it connects). */
export function latestClient(aedes: Aedes, clientId: string): () => Client | undefined {
  let latest: Client | undefined;
  aedes.on('client', (c) => {
    if (c.id === clientId) latest = c;
  });
  return () => latest;
}
