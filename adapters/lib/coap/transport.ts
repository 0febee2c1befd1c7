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

/**
 * IPv4 on `port` (0: any free one), then, when `ipv6.enabled`, IPv6 on the same port. An IPv4
 * failure rejects; an IPv6 failure is returned in `v6Error` with the IPv4 socket (hosts without
 * IPv6, some containers and trimmed Pi images, still get IPv4 service).
 */
export async function bindDualStack(o: { port: number; host: string; ipv6: { enabled: boolean; host: string } }): Promise<{ v4: Socket; v6?: Socket; v6Error?: Error }> {
  const v4 = await bindUdp('udp4', o.port, o.host);
  if (!o.ipv6.enabled) return { v4 };
  try {
    return { v4, v6: await bindUdp('udp6', v4.address().port, o.ipv6.host) };
  } catch (err) {
    return { v4, v6Error: err as Error };
  }
}
