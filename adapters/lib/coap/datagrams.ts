// Serving the datagram transports other adapters provide (a modem's NB-IoT socket) with the same
// engine as the UDP listeners. The provider declares the protocol (`nbiot.protocol: coap` on a
// modem); the CoAP and LwM2M adapters each follow every `datagram/*` service of their protocol,
// attaching an endpoint when one appears and detaching it when it is withdrawn or closes.
import type { DatagramProtocol, DatagramTransport } from '../../../gateway/core/datagram.ts';
import type { Services } from '../../../gateway/core/services.ts';

export interface DatagramFollower<E> {
  /** A transport of our protocol appeared (or a provider restarted with a new instance). */
  attach(t: DatagramTransport): E;
  /** It was withdrawn or closed (`why` is for the log); close the endpoint, never the transport. */
  detach(ep: E, name: string, why: string): void;
}

/** Follows `datagram/*` services whose protocol is `protocol`; returns the function that stops it. */
export function followDatagrams<E>(services: Services, protocol: DatagramProtocol, f: DatagramFollower<E>): () => void {
  const attached = new Map<string, { ep: E; name: string; offClose: () => void }>();
  const drop = (service: string, why: string) => {
    const a = attached.get(service);
    if (!a) return;
    attached.delete(service);
    a.offClose();
    f.detach(a.ep, a.name, why);
  };
  const unwatch = services.watchPrefix('datagram/', (service, t) => {
    drop(service, t ? 'replaced by a new instance' : 'withdrawn by its provider');
    if (!t || t.protocol !== protocol || t.closed) return;
    const ep = f.attach(t);
    const offClose = t.onClose((reason) => {
      if (attached.get(service)?.ep === ep) drop(service, `closed: ${reason}`);
    });
    attached.set(service, { ep, name: t.name, offClose });
  });
  return () => {
    unwatch();
    for (const s of [...attached.keys()]) drop(s, 'adapter stopping');
  };
}
