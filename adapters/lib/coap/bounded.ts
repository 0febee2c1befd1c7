// Bounded per-peer state. Every map the adapter keeps for a remote party is one of these, so a
// flood of new source ports costs at most `max` entries, never unbounded memory.

/** A Map that keeps at most `max` entries (least recently used goes first) for at most `ttlMs`. */
export class LruMap<K, V> {
  private readonly map = new Map<K, { value: V; expires: number }>();

  constructor(
    readonly max: number,
    private readonly ttlMs = Infinity,
    private readonly onEvict?: (key: K, value: V, why: 'capacity' | 'expired') => void,
    private readonly now: () => number = Date.now,
  ) {
    if (!(max >= 1)) throw new Error(`LruMap needs max >= 1, got ${max}`);
  }

  get size(): number {
    return this.map.size;
  }

  /** The live value, refreshed as most recently used. */
  get(key: K): V | undefined {
    const e = this.map.get(key);
    if (!e) return undefined;
    if (e.expires <= this.now()) {
      this.map.delete(key);
      this.onEvict?.(key, e.value, 'expired');
      return undefined;
    }
    this.map.delete(key);
    this.map.set(key, e);
    return e.value;
  }

  /** The value without refreshing its recency (and without expiring it). */
  peek(key: K): V | undefined {
    return this.map.get(key)?.value;
  }

  has(key: K): boolean {
    return this.get(key) !== undefined;
  }

  /** Stores `value` as most recently used; `ttlMs` overrides the map's lifetime for this entry. */
  set(key: K, value: V, ttlMs = this.ttlMs): void {
    this.map.delete(key);
    this.map.set(key, { value, expires: this.now() + ttlMs });
    while (this.map.size > this.max) {
      const [k, e] = this.map.entries().next().value as [K, { value: V }];
      this.map.delete(k);
      this.onEvict?.(k, e.value, 'capacity');
    }
  }

  delete(key: K): boolean {
    return this.map.delete(key);
  }

  /** Drops expired entries; call from a periodic timer so idle entries do not linger. */
  prune(): void {
    const t = this.now();
    for (const [k, e] of this.map) {
      if (e.expires <= t) {
        this.map.delete(k);
        this.onEvict?.(k, e.value, 'expired');
      }
    }
  }

  values(): IterableIterator<V> {
    return [...this.map.values()].map((e) => e.value)[Symbol.iterator]();
  }

  clear(): void {
    this.map.clear();
  }
}

/**
 * Token-bucket rate limit per key (a peer address). `take` answers whether one more message fits;
 * `retryAfterMs` says when the next one would. Buckets of quiet peers are forgotten after
 * `idleMs`, and at most `maxKeys` are tracked; a forgotten peer starts with a full bucket, unless
 * the table is full: then a new key starts empty and its first message is paid from one shared
 * overflow bucket, so churning through keys buys no more than one peer's budget.
 */
export class RateLimiter {
  private readonly buckets: LruMap<string, { tokens: number; at: number }>;
  private readonly overflow: { tokens: number; at: number };

  constructor(
    private readonly ratePerSec: number,
    private readonly burst: number,
    maxKeys: number,
    private readonly now: () => number = Date.now,
    idleMs = 60_000,
  ) {
    this.buckets = new LruMap(maxKeys, idleMs, undefined, now);
    this.overflow = { tokens: burst, at: now() };
  }

  get tracked(): number {
    return this.buckets.size;
  }

  take(key: string): boolean {
    if (this.ratePerSec <= 0) return true; // 0 disables the limit
    const t = this.now();
    let b = this.buckets.get(key);
    let payer = b;
    if (!b) {
      const full = this.buckets.size >= this.buckets.max;
      b = { tokens: full ? 0 : this.burst, at: t };
      payer = full ? this.overflow : b;
    }
    this.buckets.set(key, b);
    return this.spend(payer!, t);
  }

  private spend(b: { tokens: number; at: number }, t: number): boolean {
    b.tokens = Math.min(this.burst, b.tokens + ((t - b.at) / 1000) * this.ratePerSec);
    b.at = t;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return true;
    }
    return false;
  }

  retryAfterMs(key: string): number {
    const b = this.buckets.peek(key);
    if (!b || b.tokens >= 1) return 0;
    return Math.ceil(((1 - b.tokens) / this.ratePerSec) * 1000);
  }

  prune(): void {
    this.buckets.prune();
  }
}
