// An in-memory DatagramTransport (gateway/core/datagram.ts) and the remote devices behind it, for
// tests that drive the CoAP and LwM2M engines as a modem's socket would, without a modem. Delivery
// is asynchronous (setImmediate) like real I/O; a datagram to an address nobody listens on is lost,
// as over UDP; one over maxDatagram is refused, as a BC95 refuses it.
import { createSocket } from 'node:dgram';
import { z } from 'zod';
import type { AdapterContext, AdapterDefinition } from '../core/adapter.ts';
import { datagramService, type DatagramPeer, type DatagramProtocol, type DatagramTransport } from '../core/datagram.ts';

export interface RemoteDevice {
  readonly address: string;
  readonly port: number;
  /** Datagrams the gateway sent to this device, in order. */
  readonly received: Buffer[];
  /** Sends a datagram to the gateway through the transport. */
  send(buf: Buffer): void;
  onMessage(cb: (buf: Buffer) => void): void;
}

export interface MemoryDatagram {
  transport: DatagramTransport;
  /** A device reachable through the transport at address:port. */
  device(address: string, port: number): RemoteDevice;
  /** Datagrams the transport refused or dropped (no device at the destination). */
  readonly lost: number;
}

export function memoryDatagram(opts: { name?: string; protocol?: DatagramProtocol; maxDatagram?: number } = {}): MemoryDatagram {
  const listeners = new Set<(buf: Buffer, from: DatagramPeer) => void>();
  const closers = new Set<(reason: string) => void>();
  const devices = new Map<string, { deliver(buf: Buffer): void }>();
  let closed = false;
  let lost = 0;
  const transport: DatagramTransport = {
    name: opts.name ?? 'mem0',
    protocol: opts.protocol ?? 'coap',
    maxDatagram: opts.maxDatagram ?? 512,
    get closed() {
      return closed;
    },
    send(buf, port, address) {
      if (closed) return Promise.reject(new Error(`datagram transport ${transport.name} is closed`));
      if (buf.length > transport.maxDatagram) {
        lost++;
        return Promise.reject(new Error(`datagram of ${buf.length} bytes over maxDatagram ${transport.maxDatagram}`));
      }
      const copy = Buffer.from(buf);
      const dev = devices.get(`${address}|${port}`);
      if (!dev) lost++;
      else setImmediate(() => dev.deliver(copy));
      return Promise.resolve();
    },
    onMessage(cb) {
      listeners.add(cb);
      return () => listeners.delete(cb);
    },
    onClose(cb) {
      closers.add(cb);
      return () => closers.delete(cb);
    },
    close(reason = 'closed') {
      if (!closed) {
        closed = true;
        listeners.clear();
        for (const cb of [...closers]) cb(reason);
        closers.clear();
      }
      return Promise.resolve();
    },
  };
  return {
    transport,
    get lost() {
      return lost;
    },
    device(address, port) {
      const received: Buffer[] = [];
      const subs: ((buf: Buffer) => void)[] = [];
      devices.set(`${address}|${port}`, {
        deliver(buf) {
          received.push(buf);
          for (const s of subs) s(buf);
        },
      });
      return {
        address,
        port,
        received,
        send(buf) {
          const copy = Buffer.from(buf);
          setImmediate(() => {
            if (closed) return;
            for (const l of [...listeners]) l(copy, { address, port });
          });
        },
        onMessage(cb) {
          subs.push(cb);
        },
      };
    },
  };
}

/**
 * A DatagramTransport that relays a real UDP socket on 127.0.0.1, as a modem relays its NB-IoT
 * socket: devices (firmware-sim's CoAP client, the LwM2M sim) send to `port`, the gateway sees
 * their address and port, and its replies leave through the relay. Every datagram the gateway
 * sent is kept in `sent`; one over maxDatagram is refused, as a BC95 refuses it.
 */
export async function udpRelayDatagram(opts: { name: string; protocol: DatagramProtocol; maxDatagram: number }): Promise<{ transport: DatagramTransport; port: number; sent: Buffer[]; refused: number }> {
  const sock = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(0, '127.0.0.1', () => resolve());
  });
  sock.on('error', () => {});
  const listeners = new Set<(buf: Buffer, from: DatagramPeer) => void>();
  const closers = new Set<(reason: string) => void>();
  sock.on('message', (buf, rinfo) => {
    for (const l of [...listeners]) l(buf, { address: rinfo.address, port: rinfo.port });
  });
  let closed = false;
  const out = { sent: [] as Buffer[], refused: 0, port: sock.address().port, transport: undefined as unknown as DatagramTransport };
  out.transport = {
    ...opts,
    get closed() {
      return closed;
    },
    send(buf, port, address) {
      if (closed) return Promise.reject(new Error(`datagram transport ${opts.name} is closed`));
      if (buf.length > opts.maxDatagram) {
        out.refused++;
        return Promise.reject(new Error(`datagram of ${buf.length} bytes over maxDatagram ${opts.maxDatagram}`));
      }
      out.sent.push(Buffer.from(buf));
      return new Promise((resolve, reject) => sock.send(buf, port, address, (err) => (err ? reject(err) : resolve())));
    },
    onMessage(cb) {
      listeners.add(cb);
      return () => listeners.delete(cb);
    },
    onClose(cb) {
      closers.add(cb);
      return () => closers.delete(cb);
    },
    close(reason = 'closed') {
      if (closed) return Promise.resolve();
      closed = true;
      listeners.clear();
      for (const cb of [...closers]) cb(reason);
      closers.clear();
      return new Promise((resolve) => sock.close(() => resolve()));
    },
  };
  return out;
}

/**
 * A test adapter standing in for the modem adapter: while running it provides `datagram/<name>`,
 * a udpRelayDatagram. `current()` is the running instance (a new one after each restart).
 */
export function relayModemAdapter(name: string, protocol: DatagramProtocol, maxDatagram = 512) {
  const schema = z.strictObject({ enabled: z.boolean().default(false) });
  let current: Awaited<ReturnType<typeof udpRelayDatagram>> | undefined;
  let ctx: AdapterContext | undefined;
  const def: AdapterDefinition<typeof schema> = {
    name: `relay-${name}`,
    configSchema: schema,
    provides: ['datagram/'],
    create: () => {
      let mine: typeof current;
      return {
        async start(c) {
          ctx = c;
          mine = current = await udpRelayDatagram({ name, protocol, maxDatagram });
          c.services.provide(datagramService(name), mine.transport);
        },
        async stop() {
          await mine?.transport.close('adapter stopped');
        },
      };
    },
  };
  return { def, current: () => current!, fail: (err: Error) => ctx!.fail(err) };
}
