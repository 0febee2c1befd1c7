import { RateLimitedLog } from '../core/log-limit.ts';
import type { Logger } from '../log/logger.ts';
import type { Counter } from '../metrics/metrics.ts';

export type DropReason = 'queue_full' | 'expired' | 'failed' | 'no_rule' | 'too_large';

/** Drop and expiry warnings are logged at most this often, with the count since the last one. */
export const DROP_LOG_MS = 10_000;

/**
 * The bridge's drops (queue full, expired, refused for good, ...): totals by reason and one
 * rate-limited warning line, "... (and N more since the last line)". Drops that no later line
 * reports are written out by a timer, so the lines always add up to the totals.
 */
export class DropLog {
  readonly totals: Record<DropReason, number> = { queue_full: 0, expired: 0, failed: 0, no_rule: 0, too_large: 0 };
  private readonly limited: RateLimitedLog;

  constructor(log: Logger, private readonly queueFull: Counter, intervalMs = DROP_LOG_MS) {
    this.limited = new RateLimitedLog({
      intervalMs,
      write: (fields, msg) => log.warn(fields, msg),
      flush: (more) => {
        const totals = Object.entries(this.totals).filter(([, v]) => v > 0).map(([k, v]) => `${k} ${v}`).join(', ');
        return { fields: { more_since_last_line: more, totals: { ...this.totals } }, msg: `bridge dropped ${more} more messages since the last line (totals: ${totals})` };
      },
    });
  }

  /** `n` messages dropped for `reason`; `always`: a line now, whatever the rate limit (rare and worth its own line). */
  dropped(reason: DropReason, n: number, what: string, always = false): void {
    this.totals[reason] += n;
    if (reason === 'queue_full') this.queueFull.inc(n);
    this.limited.event('drops', (more) => ({
      fields: { reason, dropped: n, more_since_last_line: more, totals: { ...this.totals } },
      msg: `bridge dropped messages: ${what}${more ? ` (and ${more} more since the last line)` : ''}`,
    }), n, always);
  }

  /** Writes out the drops a rate-limited line left unsaid (on stop). */
  flush(): void {
    this.limited.flushAll();
  }
}
