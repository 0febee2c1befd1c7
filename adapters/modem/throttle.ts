import { RateLimitedLog, moreSuffix } from '../../gateway/core/log-limit.ts';

/**
 * The adapter's warn lines that a stranger's radio, a device or a noisy line can repeat: the core's
 * RateLimitedLog with the modem's one calling shape, warn(key, fields, msg). At most one line per
 * key a minute; the next one, or the last held-back one at the end of the minute, carries
 * `suppressed` and says how many were left out: "(and 12 more in the last 60 s)".
 */
export class Throttle {
  private readonly limiter: RateLimitedLog;

  constructor(warn: (fields: Record<string, unknown>, msg: string) => void, private readonly intervalMs = 60_000) {
    this.limiter = new RateLimitedLog({ intervalMs, write: warn, tail: true });
  }

  warn(key: string, fields: Record<string, unknown>, msg: string): void {
    this.limiter.event(key, (n) => ({ fields: n ? { ...fields, suppressed: n } : fields, msg: msg + moreSuffix(n, this.intervalMs) }));
  }

  /** Writes out what is held back and forgets every key (stopping). */
  clear(): void {
    this.limiter.flushAll();
    this.limiter.clear();
  }
}
