import { RateLimitedLog } from '../../gateway/core/log-limit.ts';

/**
 * The adapter's warn lines that a stranger's radio or a noisy line can repeat: at most one per key a
 * minute, the next one saying how many were left out (the core's RateLimitedLog).
 */
export class Throttle {
  private readonly limiter: RateLimitedLog;

  constructor(warn: (fields: Record<string, unknown>, msg: string) => void, intervalMs = 60_000) {
    this.limiter = new RateLimitedLog({ intervalMs, write: warn });
  }

  warn(key: string, fields: Record<string, unknown>, msg: string): void {
    this.limiter.event(key, (n) => ({ fields: n ? { ...fields, suppressed: n } : fields, msg: n ? `${msg} (${n} more since the last line)` : msg }));
  }
}
