// Topic names: the mountpoint with EMQX's placeholders, then the translator topic.
import type { Device } from './device.ts';

/** ${endpoint_name} ${clientid} ${username} ${peerhost} (EMQX 5) and %e %a (EMQX 4.x). Unknown ones become "". */
export function mountpoint(template: string, dev: Pick<Device, 'ep' | 'clientid' | 'username' | 'peer'>): string {
  const vars: Record<string, string> = { endpoint_name: dev.ep, clientid: dev.clientid, username: dev.username ?? '', peerhost: dev.peer.address };
  return template
    .replace(/\$\{([a-z_.]+)\}/g, (_m, k: string) => vars[k] ?? '')
    .replace(/%e/g, dev.ep)
    .replace(/%a/g, dev.peer.address);
}

/** Endpoint names become topic levels: no wildcards, no NUL, and a sane length. */
export function invalidEndpoint(ep: string): string | undefined {
  if (ep.length > 256) return 'endpoint name longer than 256 characters';
  if (/[+#\u0000]/.test(ep)) return 'endpoint name contains +, # or NUL, which cannot be in an MQTT topic';
  return undefined;
}
