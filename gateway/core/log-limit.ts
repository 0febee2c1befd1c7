// The one rate-limited log line: "what happened (and 12 more in the last 60 s)", and for what is
// held back when no new event comes, "... and 12 more <what> in the last 60 s" (or the last such
// event's own line with the count of the others, with `tail`).

export interface LimitedLine {
  /** Structured fields of the line (pino's first argument). */
  fields: Record<string, unknown>;
  msg: string;
}

export interface RateLimitedLogOptions {
  /** At most one line per this many ms per key. */
  intervalMs: number;
  /** Writes a line (e.g. `(f, m) => log.warn(f, m)`). */
  write: (fields: Record<string, unknown>, msg: string) => void;
  /**
   * When set, events suppressed since the last line are written out by a timer once the interval
   * has passed, even if no new event comes (so a burst's tail is never silently lost). Receives the
   * count and the key; returns the line.
   */
  flush?: (suppressed: number, key: string) => LimitedLine;
  /**
   * Without `flush`: what was held back is written out by the timer all the same, as the last
   * held-back event's own line with the count of the others. With either, a count never spans
   * more than one interval, which is what "in the last 60 s" (moreSuffix with the interval) says.
   */
  tail?: boolean;
  now?: () => number;
}

interface KeyState {
  at: number;
  suppressed: number;
  timer?: NodeJS.Timeout;
  /** With `tail`: the last held-back event's line. */
  last?: (more: number) => LimitedLine;
}

/**
 * Logs an event a remote peer (or a long outage) can repeat without flooding the log: the first
 * occurrence per key is written at once, later ones within `intervalMs` are only counted, and the
 * next line written says how many were left out. Keys separate unrelated events (a different
 * error text is logged at once).
 */
export class RateLimitedLog {
  private readonly keys = new Map<string, KeyState>();
  private readonly now: () => number;

  constructor(private readonly opts: RateLimitedLogOptions) {
    this.now = opts.now ?? Date.now;
  }

  /**
   * Records one (or `count`) occurrence(s). `line` is called only when a line is written; it gets the
   * number of occurrences suppressed since the previous line. Returns true when a line was written.
   */
  event(key: string, line: (moreSinceLastLine: number) => LimitedLine, count = 1, force = false): boolean {
    const now = this.now();
    let st = this.keys.get(key);
    if (!st) {
      // Bounded: a peer sending ever-new error texts cannot grow this map without limit.
      if (this.keys.size >= 1000) this.forgetOldest();
      st = { at: -Infinity, suppressed: 0 };
      this.keys.set(key, st);
    }
    if (!force && now - st.at < this.opts.intervalMs) {
      st.suppressed += count;
      if (this.opts.tail) st.last = line;
      if ((this.opts.flush || this.opts.tail) && !st.timer) {
        st.timer = setTimeout(() => this.flushKey(key), st.at + this.opts.intervalMs - now);
        st.timer.unref();
      }
      return false;
    }
    const more = st.suppressed;
    clearTimeout(st.timer);
    st.timer = undefined;
    st.last = undefined;
    const l = line(more);
    this.opts.write(l.fields, l.msg);
    st.at = now;
    st.suppressed = 0;
    return true;
  }

  /** Occurrences counted but not yet written out for `key`. */
  suppressed(key: string): number {
    return this.keys.get(key)?.suppressed ?? 0;
  }

  /** Writes out what was suppressed (with the flush line), e.g. on stop. */
  flushAll(): void {
    for (const k of [...this.keys.keys()]) this.flushKey(k);
  }

  /** Forgets `key` (the condition ended: the next occurrence is logged at once). */
  reset(key: string): void {
    const st = this.keys.get(key);
    if (st) clearTimeout(st.timer);
    this.keys.delete(key);
  }

  /** Forgets every key (the link came back: the next failure is news). */
  clear(): void {
    for (const st of this.keys.values()) clearTimeout(st.timer);
    this.keys.clear();
  }

  private flushKey(key: string): void {
    const st = this.keys.get(key);
    if (!st) return;
    clearTimeout(st.timer);
    st.timer = undefined;
    const last = st.last;
    st.last = undefined;
    if (!st.suppressed || (!this.opts.flush && !last)) return;
    const l = this.opts.flush ? this.opts.flush(st.suppressed, key) : last!(st.suppressed - 1);
    this.opts.write(l.fields, l.msg);
    st.at = this.now();
    st.suppressed = 0;
  }

  private forgetOldest(): void {
    let oldestKey: string | undefined;
    let oldest = Infinity;
    for (const [k, st] of this.keys) {
      if (st.at < oldest && !st.timer) {
        oldest = st.at;
        oldestKey = k;
      }
    }
    if (oldestKey !== undefined) this.keys.delete(oldestKey);
  }
}

/**
 * The suffix of a rate-limited line: " (and 12 more in the last 60 s)", " (and 12 more from
 * 10.0.0.7 in the last 60 s)", or "" when nothing was held back. Give the limiter's interval only
 * when it writes out what it held back (`flush` or `tail`): then the count is within it. Without
 * the interval, for a limiter that does not, the count may span longer: " (12 more since the last line)".
 */
export function moreSuffix(n: number, intervalMs?: number, from?: string): string {
  if (!n) return '';
  return intervalMs === undefined ? ` (${n} more since the last line)` : ` (and ${n} more${from ? ` from ${from}` : ''} in the last ${intervalMs / 1000} s)`;
}

/** The line that writes out what a limiter held back: "... and 12 more <what> in the last 60 s". */
export function moreLine(n: number, what: string, intervalMs: number): string {
  return `... and ${n} more ${what} in the last ${intervalMs / 1000} s`;
}
