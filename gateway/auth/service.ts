import type { AuthConfig } from '../config/schema.ts';
import { filterReaches } from '../core/topic.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { checkAcl, checkRead, checkSubscribeGrant, isLoopback, type AclAction, type Principal } from './acl.ts';
import { LOGIN_DEFAULTS, LoginGuard } from './login-guard.ts';
import { LowPriorityScrypt } from './low-priority.ts';
import { verifyPassword } from './password.ts';

export type { Principal, AclAction };

// A valid scrypt hash of a random password nobody knows (same parameters as hashPassword).
const DUMMY_HASH = '$scrypt$N=16384,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';

export type AuthResult =
  | { ok: true }
  | { ok: false; reason: 'bad_username_or_password' | 'not_authorized' | 'server_unavailable'; detail: string };

/**
 * The one authentication and authorization service. Local MQTT clients (through the broker's hooks)
 * and adapter devices (through the message API) both ask here, so a rule means the same thing
 * whatever protocol a device speaks.
 */
export class AuthService {
  private users: Map<string, string>;
  readonly logins: LoginGuard;
  /** Where the checks of suspect addresses run: one thread at low CPU priority. */
  readonly lowPriority = new LowPriorityScrypt();

  /** `now`: the clock of the login backoff and cache (tests drive it instead of waiting). */
  constructor(private cfg: Omit<AuthConfig, 'login'> & Partial<Pick<AuthConfig, 'login'>>, opts: { now?: () => number } = {}) {
    this.users = new Map(cfg.users.map((u) => [u.username, u.password_hash]));
    const l = cfg.login ?? LOGIN_DEFAULTS;
    this.logins = new LoginGuard({
      maxFailures: l.max_failures, backoffInitial: l.backoff_initial, backoffMax: l.backoff_max,
      concurrent: l.max_concurrent_checks, waiting: l.max_waiting_checks, perAddress: l.per_address_checks, cacheTtl: l.cache_ttl,
      now: opts.now,
    });
  }

  /** The login guard's counters, under `auth/login/` (docs/operations.md lists them). */
  registerMetrics(metrics: Metrics): void {
    const m = metrics.scoped('auth/login');
    const g = this.logins;
    for (const from of ['clean', 'suspect'] as const) {
      const st = g.checks.stats[from];
      m.counterFn('checks/{from}', () => st.checks, { from });
      m.counterFn('check_wait_seconds/{from}', () => st.wait_s, { from });
      m.counterFn('check_seconds/{from}', () => st.check_s, { from });
    }
    for (const reason of ['throttled', 'busy'] as const) m.counterFn('refused/{reason}', () => g.refused[reason], { reason });
    m.counterFn('cache_hits', () => g.cacheHits);
    m.counterFn('low_priority_fallbacks', () => this.lowPriority.counts.fallbacks);
  }

  /** Ends the low-priority thread (it also ends by itself after a minute without work). */
  close(): Promise<void> {
    return this.lowPriority.close();
  }

  /** Bumped by replace(): ACL answers a caller cached before it are stale (the broker caches per client and topic). */
  generation = 0;

  /** New users and ACL (SIGHUP): the next authentication and authorization use them; connections stay. */
  replace(cfg: AuthConfig): void {
    this.generation++;
    this.users = new Map(cfg.users.map((u) => [u.username, u.password_hash]));
    this.cfg = cfg;
    this.logins.forgetVerified();
  }

  /** Asked before credentials (bans, connection-rate limits: gateway/limits); a result refuses. */
  gate?: (p: Principal) => Promise<AuthResult | undefined>;

  async authenticate(p: Principal, password: string | Buffer | undefined): Promise<AuthResult> {
    if (this.gate) {
      const refused = await this.gate(p);
      if (refused) return refused;
    }
    if (p.username === undefined || p.username === '') {
      if (this.cfg.allow_anonymous === 'always') return { ok: true };
      if (this.cfg.allow_anonymous === 'loopback' && isLoopback(p.ipaddress)) return { ok: true };
      return { ok: false, reason: 'not_authorized', detail: `anonymous access from ${p.ipaddress ?? 'unknown address'} is not allowed (auth.allow_anonymous: ${this.cfg.allow_anonymous})` };
    }
    const hash = this.users.get(p.username);
    const pw = password === undefined ? undefined : Buffer.isBuffer(password) ? password : Buffer.from(password, 'utf8');
    if (hash && pw && this.logins.cached(p.username, pw)) return { ok: true };
    const admitted = await this.logins.admit(p.ipaddress, p.username);
    if (!admitted.ok) return { ok: false, reason: 'server_unavailable', detail: admitted.detail };
    let ok = false;
    try {
      // Verify against a dummy hash for unknown users too, so response time does not reveal which
      // usernames exist.
      // A suspect address's check at low CPU priority: it never slows a clean one down.
      ok = await verifyPassword(pw === undefined ? '' : pw.toString('utf8'), hash ?? DUMMY_HASH, admitted.lowPriority ? this.lowPriority.derive : undefined);
    } finally {
      // The outcome is recorded before the slot goes to the next waiter: a failure that opens a
      // backoff refuses the attempts of that address (or user) already waiting, unchecked.
      if (hash && pw !== undefined && ok) this.logins.succeeded(p.ipaddress, p.username, pw);
      else this.logins.failed(p.ipaddress, p.username);
      admitted.release();
    }
    if (!hash || pw === undefined) return { ok: false, reason: 'bad_username_or_password', detail: `unknown user "${p.username}" or no password` };
    if (!ok) return { ok: false, reason: 'bad_username_or_password', detail: `wrong password for user "${p.username}"` };
    return { ok: true };
  }

  /**
   * A device its adapter identified from configuration rather than by a secret (an LwM2M endpoint
   * name mapped to a user): the gate (bans, connection limits) applies, and a username must be a
   * user in auth.users now (users change on SIGHUP). ACL rules then apply by that username.
   */
  async identify(p: Principal): Promise<AuthResult> {
    const refused = this.gate ? await this.gate(p) : undefined;
    if (refused) return refused;
    if (p.username !== undefined && !this.users.has(p.username)) return { ok: false, reason: 'not_authorized', detail: `user "${p.username}" is not in auth.users` };
    return { ok: true };
  }

  /**
   * For the broker, which checks every message at delivery (mayRead): is a subscription to
   * `filter` granted? Refused only when no part of it can ever be read.
   */
  maySubscribe(p: Principal, filter: string): boolean {
    const decision = checkSubscribeGrant(this.cfg.acl, p, filter);
    if (decision !== 'nomatch') return decision === 'allow';
    if (filterReaches(filter, '$SYS/')) return isLoopback(p.ipaddress);
    return isLoopback(p.ipaddress) || this.cfg.acl_nomatch === 'allow';
  }

  /** May `p` receive a message published on topic name `topic`? (the check at delivery) */
  mayRead(p: Principal, topic: string): boolean {
    const decision = checkRead(this.cfg.acl, p, topic);
    if (decision !== 'nomatch') return decision === 'allow';
    if (topic.startsWith('$SYS/') || topic === '$SYS') return isLoopback(p.ipaddress);
    return isLoopback(p.ipaddress) || this.cfg.acl_nomatch === 'allow';
  }

  /**
   * `topic` is a topic name for publish, a topic filter for subscribe. A subscribe is allowed only
   * when all of the filter is readable: for subscribers that are not checked per message
   * (adapter devices, the HTTP tail).
   */
  authorize(p: Principal, action: AclAction, topic: string): boolean {
    const reachesSys = action === 'subscribe' ? filterReaches(topic, '$SYS/') : topic.startsWith('$SYS/') || topic === '$SYS';
    if (reachesSys && action === 'publish') return false; // $SYS is written by the gateway alone
    const decision = checkAcl(this.cfg.acl, p, action, topic);
    if (decision !== 'nomatch') return decision === 'allow';
    // $SYS is readable from loopback unless a rule says otherwise; from elsewhere only by an allow rule.
    if (reachesSys) return isLoopback(p.ipaddress);
    return isLoopback(p.ipaddress) || this.cfg.acl_nomatch === 'allow';
  }
}
