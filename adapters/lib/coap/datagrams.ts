// Serving the datagram transports other adapters provide (a modem's NB-IoT socket) with the same
// engine as the UDP listeners. The provider declares the protocol (`nbiot.protocol: coap` on a
// modem); the CoAP and LwM2M adapters each follow every `datagram/*` service of their protocol.
//
// One endpoint per service NAME, not per instance: when the provider restarts (a module reset, the
// modem adapter failing), the new instance is switched in under the same endpoint. The devices did
// not move (same address and port on the operator's network), so their observations, de-duplication
// state and pending requests carry over, as over a UDP socket that never closed. While no instance
// is provided, sends are refused (CON messages are retransmitted and may get through once it is back).
import type { DatagramPeer, DatagramProtocol, DatagramTransport } from '../../../gateway/core/datagram.ts';
import type { Services } from '../../../gateway/core/services.ts';

export interface DatagramFollower<E> {
  /** A transport of our protocol appeared under a new name: serve it (an endpoint on `t`). */
  attach(t: DatagramTransport): E;
  /** Stop serving it (the adapter stops, or its datagram size changed); close the endpoint, never the transport. */
  detach(ep: E, name: string, why: string): void;
  /** The instance behind a name went away or came back, for the log. */
  changed?(name: string, up: boolean, why: string): void;
}

/**
 * A DatagramTransport that stays while the instances behind a service name come and go. It is
 * the consumer's own object: closing it never closes the provider's socket.
 */
class SwitchedTransport implements DatagramTransport {
  private current?: DatagramTransport;
  private offMessage?: () => void;
  private readonly listeners = new Set<(buf: Buffer, from: DatagramPeer) => void>();
  private readonly closers = new Set<(reason: string) => void>();
  private isClosed = false;

  constructor(readonly name: string, readonly protocol: DatagramProtocol, readonly maxDatagram: number) {}

  get closed(): boolean {
    return this.isClosed;
  }

  /** Switches to `t` (undefined: none for now). */
  use(t: DatagramTransport | undefined): void {
    this.offMessage?.();
    this.offMessage = undefined;
    this.current = t;
    if (t) this.offMessage = t.onMessage((buf, from) => this.deliver(buf, from));
  }

  isUsing(t: DatagramTransport): boolean {
    return this.current === t;
  }

  private deliver(buf: Buffer, from: DatagramPeer): void {
    for (const l of [...this.listeners]) l(buf, from);
  }

  send(buf: Buffer, port: number, address: string): Promise<void> {
    if (this.isClosed) return Promise.reject(new Error(`datagram transport ${this.name} is no longer served`));
    if (!this.current) return Promise.reject(new Error(`datagram transport ${this.name} is gone until its provider provides it again`));
    return this.current.send(buf, port, address);
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
    if (this.isClosed) return Promise.resolve();
    this.isClosed = true;
    this.use(undefined);
    this.listeners.clear();
    for (const cb of [...this.closers]) cb(reason);
    this.closers.clear();
    return Promise.resolve();
  }
}

/** Follows `datagram/*` services whose protocol is `protocol`; returns the function that stops it. */
export function followDatagrams<E>(services: Services, protocol: DatagramProtocol, f: DatagramFollower<E>): () => void {
  const served = new Map<string, { ep: E; sw: SwitchedTransport; offClose?: () => void }>();
  const drop = (service: string, why: string) => {
    const s = served.get(service);
    if (!s) return;
    served.delete(service);
    s.offClose?.();
    void s.sw.close(why);
    f.detach(s.ep, s.sw.name, why);
  };
  const gone = (service: string, why: string) => {
    const s = served.get(service);
    if (!s) return;
    s.offClose?.();
    s.offClose = undefined;
    s.sw.use(undefined);
    f.changed?.(s.sw.name, false, why);
  };
  const unwatch = services.watchPrefix('datagram/', (service, t) => {
    if (!t || t.protocol !== protocol || t.closed) return gone(service, t ? `its protocol is now ${t.protocol}` : 'withdrawn by its provider');
    let s = served.get(service);
    // A different datagram size changes the engine's message and block sizes: a new endpoint.
    if (s && s.sw.maxDatagram !== t.maxDatagram) drop(service, `its datagram size changed to ${t.maxDatagram} bytes`);
    s = served.get(service);
    if (!s) {
      const sw = new SwitchedTransport(t.name, protocol, t.maxDatagram);
      s = { ep: f.attach(sw), sw };
      served.set(service, s);
    } else {
      f.changed?.(t.name, true, 'provided again');
    }
    const entry = s;
    entry.offClose?.();
    entry.sw.use(t);
    entry.offClose = t.onClose((reason) => {
      if (entry.sw.isUsing(t)) gone(service, `closed: ${reason}`);
    });
  });
  return () => {
    unwatch();
    for (const s of [...served.keys()]) drop(s, 'adapter stopping');
  };
}
