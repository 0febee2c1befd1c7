// The datagram seam between adapters: how a modem's UDP socket (NB-IoT on a BC95/BG96) reaches the
// CoAP and LwM2M engines without either adapter importing the other.
//
// Contract
// - The PROVIDER (the modem adapter) owns the socket. It creates one DatagramTransport per socket
//   and publishes it as the service `datagram/<name>` (ctx.services.provide). `name` is the
//   `via` of the devices it serves (DeviceIdentity in gateway/core/identity.ts: their address stays
//   "<ip>:<port>" on the operator's network) and the label in logs: keep it short and stable across
//   restarts ("nb0", the modem's config name).
// - `protocol` says which engine should serve it: the CoAP adapter attaches to every
//   `datagram/*` whose protocol is 'coap', the LwM2M adapter to those with 'lwm2m'; 'raw' is for a
//   consumer that wants plain datagrams. The provider decides (the user writes `protocol: coap`
//   on the modem and nothing on the CoAP side).
// - `send(buf, port, address)` hands one datagram to the socket. It never throws; it resolves when
//   the socket took it and rejects with an Error when it could not (modem busy, socket closed,
//   datagram over maxDatagram). Consumers may ignore the result: CoAP retransmits.
// - `onMessage(cb)` subscribes to received datagrams, `cb(buf, {address, port})`; returns the
//   unsubscribe function. Several subscribers each get every datagram. A provider never calls a
//   callback after close.
// - `maxDatagram` is the largest datagram `send` accepts and the peer can receive (512 for a BC95):
//   the CoAP engine sizes its messages and Block2 slices to it.
// - `close()` is the provider's: it closes the socket and fires `onClose` callbacks once
//   (`reason` is for logs). A consumer never closes a transport it did not create; it unsubscribes.
//   When the provider stops or fails, the supervisor also withdraws the service, so consumers
//   watching `datagram/` see it disappear (and reappear as a new instance after the restart).
// An in-memory pair for tests is in gateway/test/datagram-pair.ts.

/** The remote end of a datagram: an IP address (or a transport-specific address) and a port. */
export interface DatagramPeer {
  address: string;
  port: number;
}

/** Which engine serves a transport's datagrams. */
export type DatagramProtocol = 'coap' | 'lwm2m' | 'raw';

export interface DatagramTransport {
  /** Short, stable label: part of device identities and log lines ("nb0"). */
  readonly name: string;
  readonly protocol: DatagramProtocol;
  /** Largest datagram, in bytes, that send() accepts (512 for a BC95). */
  readonly maxDatagram: number;
  /** True once closed: send() rejects, no more messages arrive. */
  readonly closed: boolean;
  send(buf: Buffer, port: number, address: string): Promise<void>;
  onMessage(cb: (buf: Buffer, from: DatagramPeer) => void): () => void;
  onClose(cb: (reason: string) => void): () => void;
  /** The provider's: closes the socket, then calls the onClose callbacks once. Idempotent. */
  close(reason?: string): Promise<void>;
}

/** The service name under which a transport is provided. */
export const datagramService = (name: string): `datagram/${string}` => `datagram/${name}`;
