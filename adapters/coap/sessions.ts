// Who is asking: connection-mode sessions (POST /mqtt/connection -> token, heartbeat, expiry,
// takeover from a new address) and cached authentication for connectionless requests.
import { createHash, randomInt } from 'node:crypto';
import type { DeviceIdentity, MessageApi } from '../../gateway/core/adapter.ts';
import { LruMap } from '../lib/coap/bounded.ts';
import type { Peer } from '../lib/coap/index.ts';
import type { NotifyLink } from './observers.ts';

type AuthResult = Awaited<ReturnType<MessageApi['authenticate']>>;

export interface Session {
  clientid: string;
  username?: string;
  token: string;
  server: NotifyLink;
  peer: Peer;
  lastSeen: number;
  device: DeviceIdentity;
}

/** "ip:port", with brackets for IPv6 and IPv4-mapped addresses unwrapped. */
export function addressText(peer: Peer): string {
  return `${hostText(peer)}:${peer.port}`;
}

/** The IP address alone (IPv4-mapped unwrapped, IPv6 in brackets): the device id of a request without c=. */
export function hostText(peer: Peer): string {
  const ip = peer.address.startsWith('::ffff:') && peer.address.includes('.') ? peer.address.slice(7) : peer.address;
  return ip.includes(':') ? `[${ip}]` : ip;
}

/** `via`: the datagram transport (a modem's socket, "nb0") the request came through, if not a UDP listener. */
export function deviceOf(clientid: string, peer: Peer, username?: string, via?: string): DeviceIdentity {
  return { protocol: 'coap', transport: 'udp', id: clientid, address: addressText(peer), via, username: username || undefined };
}

export type TokenCheck = { ok: true; session: Session } | { ok: false; code: '4.00' | '4.01'; message: string };

export class Sessions {
  private readonly byClient = new Map<string, Session>();

  constructor(private readonly maxSessions: number, private readonly now: () => number = Date.now) {}

  get size(): number {
    return this.byClient.size;
  }

  get(clientid: string): Session | undefined {
    return this.byClient.get(clientid);
  }

  full(clientid: string): boolean {
    return !this.byClient.has(clientid) && this.byClient.size >= this.maxSessions;
  }

  /** Opens a session; returns it and the one it replaced (same clientid), if any. */
  create(clientid: string, username: string | undefined, server: NotifyLink, peer: Peer, via?: string): { session: Session; replaced?: Session } {
    const replaced = this.byClient.get(clientid);
    // EMQX returns a random uint32 as decimal text.
    const token = String(randomInt(1, 2 ** 32 - 1));
    const session: Session = { clientid, username, token, server, peer, lastSeen: this.now(), device: deviceOf(clientid, peer, username, via) };
    this.byClient.set(clientid, session);
    return { session, replaced };
  }

  /** Connection mode: clientid + token must name an open session (EMQX codes: 4.00 missing, 4.01 wrong). */
  check(clientid: string | undefined, token: string | undefined): TokenCheck {
    if (!clientid || !token) return { ok: false, code: '4.00', message: 'Missing token or clientid in connection mode' };
    const s = this.byClient.get(clientid);
    if (!s || s.token !== token) return { ok: false, code: '4.01', message: 'Invalid token or clientid in connection mode' };
    return { ok: true, session: s };
  }

  /** Records activity; returns true when the request came from a new address (takeover). */
  touch(s: Session, server: NotifyLink, peer: Peer, via?: string): boolean {
    s.lastSeen = this.now();
    if (s.server === server && s.peer.address === peer.address && s.peer.port === peer.port) return false;
    s.server = server;
    s.peer = peer;
    s.device = deviceOf(s.clientid, peer, s.username, via);
    return true;
  }

  remove(s: Session): void {
    if (this.byClient.get(s.clientid) === s) this.byClient.delete(s.clientid);
  }

  /** Sessions silent for longer than `expiryMs`, removed. */
  expire(expiryMs: number): Session[] {
    const cutoff = this.now() - expiryMs;
    const gone: Session[] = [];
    for (const s of this.byClient.values()) if (s.lastSeen < cutoff) gone.push(s);
    for (const s of gone) this.byClient.delete(s.clientid);
    return gone;
  }

  all(): Session[] {
    return [...this.byClient.values()];
  }
}

/**
 * Authentication results for connectionless requests, which carry credentials on every request:
 * checking a scrypt hash per datagram would cost more CPU than the rest of the request, and a
 * flood of wrong passwords would be a cheap way to burn it. Keyed by address, clientid, username
 * and a hash of the password (the password itself is not kept); failures are cached too.
 */
export class AuthCache {
  private readonly cache: LruMap<string, Promise<AuthResult>>;

  constructor(max: number, ttlMs: number) {
    this.cache = new LruMap(max, ttlMs);
  }

  check(ip: string, clientid: string, username: string | undefined, password: string | undefined, authenticate: () => Promise<AuthResult>): Promise<AuthResult> {
    const pw = password === undefined ? '-' : createHash('sha256').update(password).digest('base64');
    const key = `${ip}\u0000${clientid}\u0000${username ?? ''}\u0000${pw}`;
    let p = this.cache.get(key);
    if (!p) {
      p = authenticate().catch((err: Error) => ({ ok: false as const, reason: 'not_authorized' as const, detail: err.message }));
      this.cache.set(key, p);
    }
    return p;
  }

  prune(): void {
    this.cache.prune();
  }

  clear(): void {
    this.cache.clear();
  }
}
