// Who a device is and how the gateway reaches it. An adapter's device is not an IP address: a BLE
// sensor has a MAC, a LoRa node an id behind a serial-attached modem, an NB-IoT meter an IP
// address on the operator's network that only the modem's socket reaches. The transport says
// which of these `address` is, so nothing has to guess from its text (a MAC ending in two digits
// looks like "host:port").
import { isIP } from 'node:net';

/**
 * The link a device's `address` belongs to:
 * - `udp`, `tcp`: an IP peer; `address` is "ip:port" (IPv6 in brackets, IPv4-mapped unwrapped)
 * - `ble`: a Bluetooth LE peripheral; `address` is its MAC ("54:48:e6:00:00:01")
 * - `serial`: a module on a serial port of the gateway; `address` is the port's path
 * - `lora`: a node heard over LoRa by a modem; `address` is that modem's name
 */
export type DeviceTransport = 'udp' | 'tcp' | 'ble' | 'serial' | 'lora';

/** A device as an adapter knows it. `id` is unique within its protocol. */
export interface DeviceIdentity {
  protocol: string;
  id: string;
  transport: DeviceTransport;
  /** The peer address in the transport's form (see DeviceTransport). */
  address?: string;
  /**
   * Set when the device is reached through another part of the gateway rather than the adapter's
   * own listener: the name of the datagram transport (`datagram/<via>`, a modem's NB-IoT socket
   * such as "nb0") or of the LoRa modem. Its `address` is then on that network, not the gateway's:
   * it never counts as the gateway's own host (loopback).
   */
  via?: string;
  username?: string;
}

/** What the registry and the API keep of an identity; records written before `transport` existed lack it. */
export type DeviceAddressing = Partial<Pick<DeviceIdentity, 'transport' | 'address' | 'via'>>;

/** "ip:port" for an IP peer: IPv6 in brackets, IPv4-mapped IPv6 ("::ffff:10.0.0.5") as plain IPv4. */
export function ipPort(ip: string, port: number): string {
  const host = unmapped(ip);
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

function unmapped(ip: string): string {
  return ip.toLowerCase().startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
}

/**
 * Splits an IP peer address: "10.0.0.5:5683", "[fe80::1]:5683", and the unbracketed "::1:5683"
 * that older records hold. Anything else (a MAC, a path, a name) is not one: undefined.
 */
function splitIpPort(address: string): { ip: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|(.+)):(\d{1,5})$/.exec(address);
  const host = m?.[1] ?? m?.[2];
  if (!m || host === undefined || isIP(host) === 0) return undefined;
  // Unbracketed IPv4 is "a.b.c.d:port"; unbracketed IPv6 only ever came from "${ip}:${port}".
  const port = Number(m[3]);
  return port <= 65535 ? { ip: unmapped(host), port } : undefined;
}

const IP_TRANSPORTS: ReadonlySet<string> = new Set<DeviceTransport>(['udp', 'tcp']);

/** A device that is an IP peer, or an old record that does not say (then the address must parse as one). */
function ipPeer(d: DeviceAddressing): { ip: string; port: number } | undefined {
  if (d.address === undefined || (d.transport !== undefined && !IP_TRANSPORTS.has(d.transport))) return undefined;
  return splitIpPort(d.address);
}

/** The device's IP address ("10.0.0.5", "fe80::1"), or undefined when it has none (BLE, serial, LoRa). */
export function deviceIp(d: DeviceAddressing): string | undefined {
  return ipPeer(d)?.ip;
}

/** The device's source port, when it is an IP peer. */
export function devicePort(d: DeviceAddressing): number | undefined {
  return ipPeer(d)?.port;
}

/** A loopback address (127.0.0.0/8, ::1). */
export function isLoopbackIp(ip: string): boolean {
  return ip === '::1' || (ip.startsWith('127.') && isIP(ip) === 4);
}

/**
 * The address that ACL `ipaddress` rules, bans and the login guard match, and `$SYS` events
 * show as `ipaddress`: the IP of an IP peer; the MAC of a BLE device (docs/ble.md: bans and rules
 * name it); nothing for serial modules and LoRa nodes (the port or the modem would stand for every
 * device behind it). A device reached through a modem never has a loopback address: that network
 * is not the gateway's own host, whatever source address it reports.
 */
export function peerAddress(d: DeviceIdentity): string | undefined {
  if (d.transport === 'ble') return d.address;
  const ip = deviceIp(d);
  if (ip !== undefined && d.via !== undefined && isLoopbackIp(ip)) return undefined;
  return ip;
}
