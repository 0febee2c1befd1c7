import { z } from 'zod';

/** A rate: `tokens` per `intervalMs`. `undefined` stands for EMQX's `infinity` (no limit). */
export interface Rate {
  tokens: number;
  intervalMs: number;
  /** The text the user wrote, for messages and the API. */
  text: string;
}

const TIME: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const SIZE: Record<string, number> = { '': 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

/**
 * EMQX's rate syntax (emqx_limiter_schema): `infinity`, or `<quota>[size unit]/<interval>` such as
 * `1000/s`, `1000/10s`, `500/m`, `100MB/s`; the interval defaults to one second (`1MB`).
 */
export function parseRate(input: string | number): Rate | 'infinity' | undefined {
  if (typeof input === 'number') return Number.isFinite(input) && input > 0 ? { tokens: input, intervalMs: 1000, text: `${input}/s` } : undefined;
  const s = input.trim();
  if (s === 'infinity') return 'infinity';
  const m = /^(\d+(?:\.\d+)?)\s*(kb|mb|gb)?\s*(?:\/\s*(\d+(?:\.\d+)?)?\s*(ms|s|m|h|d))?$/i.exec(s);
  if (!m) return undefined;
  const tokens = Number(m[1]) * SIZE[(m[2] ?? '').toLowerCase()]!;
  const intervalMs = m[4] ? Number(m[3] ?? 1) * TIME[m[4].toLowerCase()]! : 1000;
  if (!(tokens > 0) || !(intervalMs > 0)) return undefined;
  return { tokens, intervalMs, text: s };
}

/** A rate option in the config: `"100/s"`, `"50/10s"`, `"infinity"` (the default: no limit). */
export const rate = () =>
  z.union([z.number(), z.string()]).transform((v, ctx): Rate | undefined => {
    const r = parseRate(v);
    if (r === undefined) {
      ctx.addIssue({ code: 'custom', message: `"${v}" is not a rate; write e.g. "100/s", "50/10s", "500/m" or "infinity"` });
      return z.NEVER;
    }
    return r === 'infinity' ? undefined : r;
  });

/**
 * A token bucket that may go into debt: `take()` always takes, and answers how long the caller has
 * to wait until its tokens are covered. Callers that wait that long before going on are served in
 * arrival order at exactly the configured rate, with bursts up to the quota.
 */
export class TokenBucket {
  private tokens: number;
  private at: number;
  private readonly perMs: number;

  constructor(readonly rate: Rate, private readonly now: () => number = Date.now) {
    this.tokens = rate.tokens;
    this.at = now();
    this.perMs = rate.tokens / rate.intervalMs;
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.rate.tokens, this.tokens + (t - this.at) * this.perMs);
    this.at = t;
  }

  /** Takes `n` tokens; returns the milliseconds until they are covered (0: go on now). */
  take(n = 1): number {
    this.refill();
    this.tokens -= n;
    return this.tokens >= 0 ? 0 : Math.ceil(-this.tokens / this.perMs);
  }

  /** Gives back tokens taken by a caller that then did not go on. */
  give(n = 1): void {
    this.tokens = Math.min(this.rate.tokens, this.tokens + n);
  }

  /** `n` tokens are there now (nothing is taken). */
  has(n = 1): boolean {
    this.refill();
    return this.tokens >= n;
  }

  /** Takes `n` tokens only if they are there now. */
  tryTake(n = 1): boolean {
    this.refill();
    if (this.tokens < n) return false;
    this.tokens -= n;
    return true;
  }

  /** Full again: nothing owed, nothing taken since. A full bucket can be forgotten. */
  get full(): boolean {
    this.refill();
    return this.tokens >= this.rate.tokens;
  }
}

/**
 * Buckets by key (one per client), bounded: when `max` is reached, full buckets (idle clients) are
 * forgotten first; if none is full the oldest goes, so a flood of new ids cannot grow memory.
 */
export class BucketMap {
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(private readonly rate: Rate, private readonly max = 10_000, private readonly now: () => number = Date.now) {}

  get(key: string): TokenBucket {
    let b = this.buckets.get(key);
    if (b) return b;
    if (this.buckets.size >= this.max) this.prune();
    b = new TokenBucket(this.rate, this.now);
    this.buckets.set(key, b);
    return b;
  }

  delete(key: string): void {
    this.buckets.delete(key);
  }

  private prune(): void {
    for (const [k, b] of this.buckets) if (b.full) this.buckets.delete(k);
    if (this.buckets.size >= this.max) {
      const oldest = this.buckets.keys().next();
      if (!oldest.done) this.buckets.delete(oldest.value);
    }
  }

  get size(): number {
    return this.buckets.size;
  }
}
