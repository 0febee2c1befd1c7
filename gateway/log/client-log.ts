import type { ClientSession } from '../broker/broker.ts';
import { RateLimitedLog } from '../core/log-limit.ts';
import type { Logger } from './logger.ts';

// One line per client or device session event, like Mosquitto's "New client connected from
// 10.0.0.5:51234 as sensor1 (p2, c1, k60, u'sensor1')", at info on the `clients` logger: set
// `log.clients: warn` to turn them off (refusals are warnings, logged where they are decided).
// A peer that reconnects in a loop gets one line per 10 s per client and event, the next one
// saying how many were left out.

const REPEAT_MS = 10_000;

export class ClientLog {
  private readonly limited: RateLimitedLog;

  constructor(private readonly log: Logger) {
    this.limited = new RateLimitedLog({ intervalMs: REPEAT_MS, write: (fields, msg) => this.log.info(fields, msg) });
  }

  private who(s: ClientSession): string {
    return s.protocol === 'mqtt' ? 'client' : `${s.protocol} device`;
  }

  connected(s: ClientSession): void {
    if (!this.log.isLevelEnabled('info')) return;
    // As Mosquitto: the peer's own address and port ("from 10.0.0.5:51234"), IPv6 in brackets.
    const ip = s.ipaddress?.startsWith('::ffff:') && s.ipaddress.includes('.') ? s.ipaddress.slice(7) : s.ipaddress;
    const host = ip?.includes(':') && s.peerport ? `[${ip}]` : ip;
    const from = host ? ` from ${host}${s.peerport ? `:${s.peerport}` : ''}` : '';
    const flags = [
      s.protocol === 'mqtt' ? `p${s.proto_ver}` : undefined,
      s.protocol === 'mqtt' ? `c${s.clean_start ? 1 : 0}` : undefined,
      `k${s.keepalive}`,
      s.username ? `u'${s.username}'` : undefined,
    ].filter(Boolean).join(', ');
    this.limited.event(`${s.protocol}\u0000${s.clientid}\u0000c`, (more) => ({
      fields: { event: 'connected', protocol: s.protocol, clientid: s.clientid, username: s.username, ipaddress: s.ipaddress },
      msg: `New ${this.who(s)} connected${from} as ${s.clientid} (${flags})${more ? ` (${more} more connects of it since the last line)` : ''}`,
    }));
  }

  disconnected(s: ClientSession, reason: string): void {
    if (!this.log.isLevelEnabled('info')) return;
    this.limited.event(`${s.protocol}\u0000${s.clientid}\u0000d`, (more) => ({
      fields: { event: 'disconnected', protocol: s.protocol, clientid: s.clientid, reason },
      msg: `${this.who(s) === 'client' ? 'Client' : this.who(s)} ${s.clientid} disconnected: ${reason}${more ? ` (${more} more disconnects of it since the last line)` : ''}`,
    }));
  }
}
