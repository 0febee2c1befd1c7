import { createHash, randomBytes } from 'node:crypto';
import { CheckQueue, type Admission, type Refusal } from './check-queue.ts';

export type { Admission };

// Every password check is a full scrypt (about 50 ms of a core). Without limits a single remote
// host sending wrong passwords keeps both cores busy and delays every honest login. The guard
// puts five things in front of the check:
//   1. failed attempts per address and per user name open a backoff window (doubling, capped)
//      during which that address / user is refused at once, without a check (and the listeners
//      close the address's connections at accept, gateway/limits/gate.ts);
//   2. the checks are scheduled fairly (check-queue.ts): one address has at most one check
//      running and `perAddress` running or waiting, addresses with no failure on record have the
//      slots to themselves, those with one get a single slot of their own whose check runs at low
//      CPU priority (low-priority.ts), and a waiting check whose address or user went into
//      backoff meanwhile is refused unchecked;
//   3. at most `concurrent` checks run at once (plus the one low-priority check), and at most
//      `waiting` wait; beyond, "busy" (a suspect's waiting check makes room for a clean one);
//   4. the per-user backoff does not apply to an address that has logged in as that user before
//      (in this run): a flood naming a device's user name slows the attacker's addresses, not the
//      device's own (`known`, bounded per user and in users, least recently used first out; only
//      a right password adds to it, so a flood cannot grow it);
//   5. a successful check is remembered for `cacheTtl` (keyed by user and a salted digest of the
//      password), so a device that reconnects does not pay for scrypt again, even while its user
//      name is under attack.

export interface LoginGuardOptions {
  maxFailures: number;
  backoffInitial: number;
  backoffMax: number;
  concurrent: number;
  waiting: number;
  perAddress: number;
  cacheTtl: number;
  now?: () => number;
}

interface Failures {
  count: number;
  /** Refused until this time (ms). */
  until: number;
  last: number;
}

const MAX_TRACKED = 10_000;
/** Checks of suspect addresses running at once: the one low-priority thread (low-priority.ts). */
const SUSPECT_CONCURRENT = 1;
/**
 * After a failed login anywhere, this long (ms) a check from an address that has not logged in as
 * that user before runs at low priority (check-queue.ts): a flood's next address starts there.
 */
const ALERT_MS = 60_000;
/** Addresses remembered per user as having logged in with the right password. */
const KNOWN_PER_USER = 8;

/** The defaults of `auth.login` (config/schema.ts declares them from here). */
export const LOGIN_DEFAULTS = {
  max_failures: 5,
  backoff_initial: 1000,
  backoff_max: 300_000,
  max_concurrent_checks: 2,
  max_waiting_checks: 32,
  per_address_checks: 2,
  cache_ttl: 600_000,
};

export class LoginGuard {
  private readonly failures = new Map<string, Failures>();
  private readonly cache = new Map<string, number>();
  /** user -> addresses it logged in from successfully (insertion order = least recently used first). */
  private readonly known = new Map<string, Set<string>>();
  private readonly salt = randomBytes(16);
  private readonly now: () => number;
  readonly checks: CheckQueue;
  /** Checks refused without running scrypt, by why. */
  readonly refused = { throttled: 0, busy: 0 };
  /** Successful checks served from the cache. */
  cacheHits = 0;
  /** When the last failed login was (ms; -Infinity: none yet). */
  private lastFailure = -Infinity;

  constructor(private readonly opts: LoginGuardOptions) {
    this.now = opts.now ?? Date.now;
    this.checks = new CheckQueue({ concurrent: opts.concurrent, suspectConcurrent: SUSPECT_CONCURRENT, waiting: opts.waiting, perAddress: opts.perAddress }, (a) => this.suspect(a), () => this.now() - this.lastFailure <= ALERT_MS);
  }

  /** scrypt checks actually run. */
  get verifications(): number {
    return this.checks.started;
  }

  /** The failures on record for `key` (`ip ...` / `user ...`), unless a quiet period forgave them. */
  private record(key: string, now = this.now()): Failures | undefined {
    const f = this.failures.get(key);
    return f && now - f.last <= this.opts.backoffMax ? f : undefined;
  }

  /** The address has a failed login on record: its checks go after those of clean addresses. */
  private suspect(address: string): boolean {
    return this.record(`ip ${address}`) !== undefined;
  }

  private key(username: string, password: Buffer): string {
    return `${username}\u0000${createHash('sha256').update(this.salt).update(password).digest('base64')}`;
  }

  /** Forgets every remembered successful check (the users changed: an old password must not pass). */
  forgetVerified(): void {
    this.cache.clear();
  }

  /** True when this user and password were verified recently. */
  cached(username: string, password: Buffer): boolean {
    const k = this.key(username, password);
    const until = this.cache.get(k);
    if (until === undefined) return false;
    if (until < this.now()) {
      this.cache.delete(k);
      return false;
    }
    this.cacheHits++;
    return true;
  }

  /**
   * How long `address` is still in its login backoff (ms; 0: not), for the listeners, which close
   * such a connection at accept: no counter moves here, the caller counts what it refuses.
   * Infinity: not in a window, but with a failure on record (or, without one, its check running at
   * low priority) and `perAddress` checks already running or waiting; a CONNECT could only be refused "busy" (this is the end of a flood's backoff window,
   * when its next guess is being checked), so its connections are closed until they end.
   */
  addressBackoff(address: string | undefined): number {
    const a = address ?? '?';
    const full = () => this.checks.pending(a) >= this.opts.perAddress;
    const f = this.record(`ip ${a}`);
    // No failure on record yet, but its check runs at low priority (a flood's first, check-queue.ts)
    // and it has no room left: closed at accept too, or the main thread would read and refuse
    // every CONNECT of the flood at normal priority until that slow first check fails.
    if (!f) return this.checks.lowRunning(a) && full() ? Infinity : 0;
    const left = f.until - this.now();
    if (left > 0) return left;
    return full() ? Infinity : 0;
  }

  /** `address` logged in as `username` with the right password before (in this run). */
  private knownAddress(address: string | undefined, username: string): boolean {
    return address !== undefined && this.known.get(username)?.has(address) === true;
  }

  private remember(address: string | undefined, username: string): void {
    if (address === undefined) return;
    const set = this.known.get(username) ?? new Set<string>();
    this.known.delete(username);
    if (this.known.size >= MAX_TRACKED) this.known.delete(this.known.keys().next().value!);
    this.known.set(username, set);
    set.delete(address);
    if (set.size >= KNOWN_PER_USER) set.delete(set.values().next().value!);
    set.add(address);
  }

  /**
   * Refused without a check: the address or the user name is in its backoff window (the user's
   * window does not apply to an address that logged in as that user before).
   */
  private throttle(address: string | undefined, username: string): Refusal | undefined {
    const now = this.now();
    const keys = [`ip ${address ?? '?'}`];
    if (!this.knownAddress(address, username)) keys.push(`user ${username}`);
    for (const k of keys) {
      const f = this.failures.get(k);
      if (f && f.until > now) {
        this.refused.throttled++;
        const who = k.startsWith('ip') ? `address ${address}` : `user "${username}"`;
        return { ok: false, reason: 'throttled', detail: `too many failed logins for ${who}: refused without a check for ${Math.ceil((f.until - now) / 1000)} s more`, retryMs: f.until - now };
      }
    }
    return undefined;
  }

  /**
   * Waits for a verification slot, or refuses. The backoff is decided before the check is queued
   * and again when its turn comes. Call `release` when the check is done.
   */
  async admit(address: string | undefined, username: string): Promise<Admission> {
    const throttled = this.throttle(address, username);
    if (throttled) return throttled;
    const got = await this.checks.request(address ?? '?', () => this.throttle(address, username), this.knownAddress(address, username));
    if (!got.ok && got.reason === 'busy') this.refused.busy++;
    return got;
  }

  succeeded(address: string | undefined, username: string, password: Buffer): void {
    this.failures.delete(`ip ${address ?? '?'}`);
    // The user's failures are not cleared: they may be a flood from other addresses, which a
    // device logging in must not reset; this address is exempt from them from now on.
    this.remember(address, username);
    if (this.opts.cacheTtl <= 0) return;
    if (this.cache.size >= MAX_TRACKED) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(this.key(username, password), this.now() + this.opts.cacheTtl);
  }

  failed(address: string | undefined, username: string): void {
    const now = this.now();
    this.lastFailure = now;
    for (const k of [`ip ${address ?? '?'}`, `user ${username}`]) {
      // A quiet period as long as the longest backoff forgives earlier failures.
      const f = this.record(k, now) ?? { count: 0, until: 0, last: now };
      f.count++;
      f.last = now;
      if (f.count >= this.opts.maxFailures) {
        const wait = Math.min(this.opts.backoffMax, this.opts.backoffInitial * 2 ** Math.min(f.count - this.opts.maxFailures, 20));
        f.until = now + wait;
      }
      this.failures.delete(k);
      if (this.failures.size >= MAX_TRACKED) this.failures.delete(this.failures.keys().next().value!);
      this.failures.set(k, f);
    }
  }
}
