// The datagram transport seam: a UDP socket, or anything else that carries CoAP datagrams (an
// NB-IoT modem's socket bridged by the modem adapter). The engine never assumes a dgram.Socket.
import { createSocket, type Socket } from 'node:dgram';
import type { EventEmitter } from 'node:events';

/** A remote endpoint: IP address (or a transport-specific address) and port. */
export interface Peer {
  address: string;
  port: number;
  family?: string;
}

/**
 * Emits ('message', buf, rinfo) for each datagram received and sends dgram-style. A UDP socket is
 * one; `maxDatagram` (bytes), when a transport has one, bounds every message the engine sends
 * through it and so picks the block size for block-wise transfers.
 */
export interface DatagramTransport extends EventEmitter {
  send(msg: Buffer, offset: number, length: number, port: number, address: string, cb?: (err: Error | null, bytes?: number) => void): void;
  maxDatagram?: number;
}

/** RFC 7252 4.6: without knowledge of the path MTU, a message should fit 1152 bytes. */
export const DEFAULT_MAX_MESSAGE = 1152;

/** "address|port": the key of a remote endpoint within one transport. */
export const peerKey = (peer: Peer): string => `${peer.address}|${peer.port}`;

/** Binds a UDP socket; the error names the family, host and port, ready for a startup line. */
export function bindUdp(type: 'udp4' | 'udp6', port: number, host: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const sock = createSocket({ type, ipv6Only: type === 'udp6' });
    const onError = (err: Error) => {
      sock.close();
      reject(new Error(`cannot bind CoAP ${type} on ${host}:${port}: ${err.message}`));
    };
    sock.once('error', onError);
    sock.bind(port, host, () => {
      sock.off('error', onError);
      resolve(sock);
    });
  });
}
