// Shared by the tcp adapter's tests: a gateway with the adapter on an OS-chosen port, and a raw
// socket that reads exact byte counts (the v1 vectors are compared byte for byte).
import { connect as netConnect, type Socket } from 'node:net';
import type { MqttClient } from 'mqtt';
import { connect, startGateway, until, type LogLine, type TestGateway } from '../../gateway/test/helpers.ts';
import { tcpAdapter } from './index.ts';

export interface TcpTestGateway extends TestGateway {
  tcpPort: number;
  metric(name: string): number;
}

/** `tcp` is merged into `adapters.tcp`; the rest of `doc` is gateway config. With `lines`, log lines (info and up) land there. */
export async function startTcpGateway(tcp: Record<string, unknown> = {}, doc: Record<string, unknown> = {}, lines?: LogLine[]): Promise<TcpTestGateway> {
  const g = await startGateway({ ...doc, adapters: { tcp: { enabled: true, host: '127.0.0.1', port: 0, ...tcp } } }, [tcpAdapter], undefined, undefined, lines);
  const metric = (name: string) => g.gw.metrics.snapshot()[`adapters/tcp/${name}`] ?? 0;
  const port = () => g.gw.adapterPorts('tcp').tcp ?? 0;
  await until(() => port() > 0, 'tcp adapter listening');
  return { ...g, tcpPort: port(), metric };
}

export { rng } from '../../gateway/test/random.ts';

export const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** A device socket with no protocol logic: bytes in, bytes out. */
export class RawDevice {
  private buf = Buffer.alloc(0);
  private waiter?: () => void;
  closed = false;
  readonly done: Promise<void>;

  private constructor(readonly socket: Socket) {
    socket.on('data', (c: Buffer) => {
      this.buf = Buffer.concat([this.buf, c]);
      this.waiter?.();
    });
    socket.on('error', () => {});
    this.done = new Promise((resolve) =>
      socket.on('close', () => {
        this.closed = true;
        this.waiter?.();
        resolve();
      }),
    );
  }

  static open(port: number): Promise<RawDevice> {
    return new Promise((resolve, reject) => {
      const s = netConnect({ host: '127.0.0.1', port }, () => resolve(new RawDevice(s)));
      s.once('error', reject);
    });
  }

  write(b: Buffer | string): void {
    this.socket.write(typeof b === 'string' ? hex(b) : b);
  }

  /** Resolves with exactly `n` bytes; rejects if the socket closes or the time runs out first. */
  async read(n: number, timeoutMs = 5000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (this.buf.length < n) {
      if (this.closed) throw new Error(`socket closed after ${this.buf.length} of ${n} bytes: ${this.buf.toString('hex')}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out with ${this.buf.length} of ${n} bytes: ${this.buf.toString('hex')}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiter = () => {
          clearTimeout(t);
          r();
        };
      });
      this.waiter = undefined;
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  get pending(): Buffer {
    return this.buf;
  }

  async closedWithin(ms = 5000): Promise<void> {
    await Promise.race([this.done, new Promise((_, rej) => setTimeout(() => rej(new Error(`socket still open after ${ms} ms`)), ms).unref())]);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Subscribes to the adapter's $SYS client events; returns the parsed payloads as they arrive. */
export async function sysEvents(url: string): Promise<{ client: MqttClient; events: { event: string; clientid: string; reason?: string; proto_name?: string; proto_ver?: number; keepalive?: number }[] }> {
  const client = await connect(url);
  const events: { event: string; clientid: string; reason?: string }[] = [];
  client.on('message', (topic, payload) => {
    const event = topic.split('/').pop() as string;
    events.push({ event, ...JSON.parse(payload.toString()) });
  });
  await client.subscribeAsync('$SYS/brokers/+/gateway/tcp/clients/+/+');
  return { client, events };
}
