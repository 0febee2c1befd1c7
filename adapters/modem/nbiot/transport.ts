import type { DatagramPeer, DatagramProtocol, DatagramTransport } from '../../../gateway/core/datagram.ts';
import type { Datagram } from './driver.ts';

/**
 * One life of a modem's UDP socket as a DatagramTransport (gateway/core/datagram.ts), offered to
 * the CoAP or LwM2M adapter as the service datagram/<modem>. A new instance is provided each time
 * the socket opens; close() ends this one when the socket dies (reset, +NSOCLI, registration
 * lost), so consumers drop their endpoint and pick up the next instance.
 */
export class ModemTransport implements DatagramTransport {
  private readonly listeners = new Set<(buf: Buffer, from: DatagramPeer) => void>();
  private readonly closers = new Set<(reason: string) => void>();
  private isClosed = false;

  constructor(
    readonly name: string,
    readonly protocol: DatagramProtocol,
    readonly maxDatagram: number,
    private readonly sendFn: (d: Datagram) => Promise<void>,
  ) {}

  get closed(): boolean {
    return this.isClosed;
  }

  send(buf: Buffer, port: number, address: string): Promise<void> {
    if (this.isClosed) return Promise.reject(new Error(`modem ${this.name}: the socket is closed`));
    // Copied: the consumer may reuse its buffer before the module's queue reaches this datagram.
    return this.sendFn({ address, port, payload: Buffer.from(buf) });
  }

  /** A datagram the module received. */
  deliver(d: Datagram): void {
    if (this.isClosed) return;
    for (const cb of [...this.listeners]) cb(d.payload, { address: d.address, port: d.port });
  }

  get consumers(): number {
    return this.listeners.size;
  }

  onMessage(cb: (buf: Buffer, from: DatagramPeer) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  onClose(cb: (reason: string) => void): () => void {
    this.closers.add(cb);
    return () => this.closers.delete(cb);
  }

  close(reason = 'closed'): Promise<void> {
    if (!this.isClosed) {
      this.isClosed = true;
      this.listeners.clear();
      for (const cb of [...this.closers]) cb(reason);
      this.closers.clear();
    }
    return Promise.resolve();
  }
}
