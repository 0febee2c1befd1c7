import { createHash, randomBytes } from 'node:crypto';

// Every password check is a full scrypt (about 50 ms of a core). Without limits a single remote
// host sending wrong passwords keeps both cores busy and delays every honest login. The guard
// puts four things in front of the check:
//   1. failed attempts per address and per user name open a backoff window (doubling, capped)
//      during which that address / user is refused at once, without a check;
//   2. one address has at most `perAddress` checks running or waiting: a flood cannot fill the
//      queue ahead of other addresses;
//   3. at most `concurrent` checks run at once, and at most `waiting` wait; beyond, "busy";
//   4. a successful check is remembered for `cacheTtl` (keyed by user and a salted digest of the
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

export type Admission = { ok: true; release: () => void } | { ok: false; reason: 'throttled' | 'busy'; detail: string; retryMs?: number };

const MAX_TRACKED = 10_000;

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
  private readonly salt = randomBytes(16);
  private readonly pendingByAddress = new Map<string, number>();
  private running = 0;
  private readonly queue: (() => void)[] = [];
  private readonly now: () => number;
  /** Checks refused without running scrypt, by why. */
  readonly refused = { throttled: 0, busy: 0 };
  /** scrypt checks actually run, and successful checks served from the cache. */
  verifications = 0;
  cacheHits = 0;

  constructor(private readonly opts: LoginGuardOptions) {
    this.now = opts.now ?? Date.now;
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
   * How long `address` is still in its login backoff (ms; 0: not). For the listeners, which close
   * such a connection at accept: no counter moves here, the caller counts what it refuses.
   */
  addressBackoff(address: string | undefined): number {
    const f = this.failures.get(`ip ${address ?? '?'}`);
    return f ? Math.max(0, f.until - this.now()) : 0;
  }

  /** Waits for a verification slot, or refuses. Call `release` when the check is done. */
  async admit(address: string | undefined, username: string): Promise<Admission> {
    const now = this.now();
    for (const k of [`ip ${address ?? '?'}`, `user ${username}`]) {
      const f = this.failures.get(k);
      if (f && f.until > now) {
        this.refused.throttled++;
        const who = k.startsWith('ip') ? `address ${address}` : `user "${username}"`;
        return { ok: false, reason: 'throttled', detail: `too many failed logins for ${who}: refused without a check for ${Math.ceil((f.until - now) / 1000)} s more`, retryMs: f.until - now };
      }
    }
    const a = address ?? '?';
    const mine = this.pendingByAddress.get(a) ?? 0;
    if (mine >= this.opts.perAddress || this.queue.length >= this.opts.waiting) {
      this.refused.busy++;
      return { ok: false, reason: 'busy', detail: mine >= this.opts.perAddress ? `a login from ${a} is already being checked` : 'too many logins being checked: try again shortly' };
    }
    this.pendingByAddress.set(a, mine + 1);
    if (this.running >= this.opts.concurrent) await new Promise<void>((resolve) => this.queue.push(resolve));
    this.running++;
    this.verifications++;
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        this.running--;
        const left = (this.pendingByAddress.get(a) ?? 1) - 1;
        if (left > 0) this.pendingByAddress.set(a, left);
        else this.pendingByAddress.delete(a);
        this.queue.shift()?.();
      },
    };
  }

  succeeded(address: string | undefined, username: string, password: Buffer): void {
    this.failures.delete(`ip ${address ?? '?'}`);
    this.failures.delete(`user ${username}`);
    if (this.opts.cacheTtl <= 0) return;
    if (this.cache.size >= MAX_TRACKED) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(this.key(username, password), this.now() + this.opts.cacheTtl);
  }

  failed(address: string | undefined, username: string): void {
    const now = this.now();
    for (const k of [`ip ${address ?? '?'}`, `user ${username}`]) {
      let f = this.failures.get(k);
      // A quiet period as long as the longest backoff forgives earlier failures.
      if (f && now - f.last > this.opts.backoffMax) f = undefined;
      f ??= { count: 0, until: 0, last: now };
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
