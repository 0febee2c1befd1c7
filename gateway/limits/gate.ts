import type { AuthResult, Principal } from '../auth/service.ts';
import { RateLimitedLog, moreSuffix } from '../core/log-limit.ts';
import type { IngressMessage } from '../core/message.ts';
import type { Logger } from '../log/logger.ts';
import type { BanList } from './banned.ts';
import type { LimitSet, LimitsConfig } from './config.ts';
import { BucketMap, TokenBucket } from './rate.ts';

/** Log lines about refused or slowed clients: at most one per this many ms, with a count of the rest. */
const LOG_EVERY_MS = 10_000;

interface Scope {
  conn?: TokenBucket;
  messages?: BucketMap;
  bytes?: BucketMap;
}

function scopeOf(set: LimitSet): Scope {
  return {
    conn: set.max_conn_rate && new TokenBucket(set.max_conn_rate),
    messages: set.messages_rate && new BucketMap(set.messages_rate),
    bytes: set.bytes_rate && new BucketMap(set.bytes_rate),
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Bans and rate limits. `admit` runs before credentials are checked, for MQTT clients and for
 * adapter devices that authenticate; `hook` is an ingress hook that holds a publish until the
 * client's message and byte buckets cover it. Holding the publish is the back-pressure: aedes reads
 * a client's socket again only once every packet of the last read is handled, and adapters await
 * `publish()`, so a client over its rate is slowed by TCP flow control, not dropped.
 */
export class ConnectionGate {
  private readonly scopes = new Map<string, Scope>();
  /** MQTT clientid -> listener name, learnt at admission: ingress messages do not carry it. */
  private readonly listenerOf = new Map<string, string>();
  /** A refused client can retry at will: one line per LOG_EVERY_MS, the next says how many were left out. */
  private readonly log: RateLimitedLog;
  /** Counters for metrics: refused connections by reason, publishes that had to wait. */
  readonly stats = { banned: 0, conn_rate: 0, slowed: 0 };
  /** The address's remaining login backoff in ms (the auth service's LoginGuard), for atAccept; Infinity: until its pending check ends. */
  loginBackoff?: (address: string | undefined) => number;

  constructor(private readonly cfg: LimitsConfig, private readonly bans: BanList, logger: Logger) {
    this.log = new RateLimitedLog({ intervalMs: LOG_EVERY_MS, write: (f, m) => logger.warn(f, m) });
    for (const [name, set] of Object.entries(cfg.listeners)) this.scopes.set(`mqtt:${name}`, scopeOf(set));
    for (const [name, set] of Object.entries(cfg.adapters)) this.scopes.set(`adapter:${name}`, scopeOf(set));
  }

  private scopeKey(p: { protocol: string; listener?: string }): string {
    return p.protocol === 'mqtt' ? `mqtt:${p.listener ?? 'tcp'}` : `adapter:${p.protocol}`;
  }

  private note(fields: Record<string, unknown>, line: string): void {
    this.log.event('refused', (more) => ({ fields, msg: `${line}${moreSuffix(more)}` }));
  }

  /**
   * Asked when a listener accepts a connection, before the MQTT broker sets up a client: an address
   * that is banned (`peerhost`, `peerhost_net`) or in login backoff is refused right there, for a
   * fraction of the CPU a CONNECT, a client set-up and a CONNACK would cost. Returns why, or
   * undefined to go on. Bans on client ids and user names wait for the CONNECT (admit).
   */
  atAccept(address: string | undefined): 'banned' | 'login_backoff' | undefined {
    const ban = this.bans.match({ ipaddress: address });
    if (ban) {
      this.note({ ipaddress: address, ban: `${ban.as}:${ban.who}` }, `connection closed at accept: banned (${ban.as} ${ban.who}${ban.reason ? `: ${ban.reason}` : ''})`);
      return 'banned';
    }
    const wait = this.loginBackoff?.(address) ?? 0;
    if (wait <= 0) return undefined;
    const until = Number.isFinite(wait) ? `for ${Math.ceil(wait / 1000)} s more` : 'while its last attempt is being checked';
    this.note({ ipaddress: address }, `connection closed at accept: too many failed logins from ${address}, ${until} (auth.login)`);
    return 'login_backoff';
  }

  async admit(p: Principal & { listener?: string }): Promise<AuthResult | undefined> {
    const ban = this.bans.match(p);
    if (ban) {
      this.stats.banned++;
      this.note({ clientid: p.clientid, username: p.username, ipaddress: p.ipaddress, ban: `${ban.as}:${ban.who}` }, `connection refused: banned (${ban.as} ${ban.who}${ban.reason ? `: ${ban.reason}` : ''})`);
      return { ok: false, reason: 'not_authorized', detail: `banned (${ban.as} ${ban.who})` };
    }
    const key = this.scopeKey(p);
    if (p.protocol === 'mqtt' && p.listener) this.listenerOf.set(p.clientid, p.listener);
    const conn = this.scopes.get(key)?.conn;
    if (!conn) return undefined;
    const wait = conn.take();
    if (wait === 0) return undefined;
    if (wait > this.cfg.max_conn_wait) {
      conn.give();
      this.stats.conn_rate++;
      this.note({ clientid: p.clientid, ipaddress: p.ipaddress, scope: key, max_conn_rate: conn.rate.text }, `connection refused: over max_conn_rate ${conn.rate.text} of ${key} (would wait ${wait} ms, more than limits.max_conn_wait)`);
      return { ok: false, reason: 'server_unavailable', detail: `over max_conn_rate ${conn.rate.text}; try again later` };
    }
    await sleep(wait);
    return undefined;
  }

  /** The client is gone: its buckets and listener entry go with it. */
  forget(clientid: string, protocol = 'mqtt'): void {
    const scope = this.scopes.get(protocol === 'mqtt' ? `mqtt:${this.listenerOf.get(clientid) ?? 'tcp'}` : `adapter:${protocol}`);
    scope?.messages?.delete(clientid);
    scope?.bytes?.delete(clientid);
    if (protocol === 'mqtt') this.listenerOf.delete(clientid);
  }

  /** The ingress hook: resolves when the message may go on. */
  readonly hook = (msg: IngressMessage): Promise<void> | void => {
    if (msg.origin !== 'mqtt' && msg.origin !== 'adapter') return;
    const protocol = msg.origin === 'mqtt' ? 'mqtt' : msg.device?.protocol;
    if (!protocol) return;
    const scope = this.scopes.get(this.scopeKey({ protocol, listener: this.listenerOf.get(msg.clientid) }));
    if (!scope || (!scope.messages && !scope.bytes)) return;
    const id = msg.device ? msg.device.id : msg.clientid;
    const wait = Math.max(scope.messages?.get(id).take() ?? 0, scope.bytes?.get(id).take(msg.payload.length) ?? 0);
    if (wait === 0) return;
    this.stats.slowed++;
    return sleep(wait);
  };
}
