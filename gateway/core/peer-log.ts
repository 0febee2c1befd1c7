import type { Logger } from '../log/logger.ts';
import { RateLimitedLog, moreLine, moreSuffix } from './log-limit.ts';

/** Lines a remote peer can repeat at will are written at most once per this interval per peer and reason. */
export const PEER_LOG_INTERVAL_MS = 60_000;

/**
 * Warnings that a remote peer triggers, in the broker and the adapters (malformed packets, refused
 * logins, refused publishes): one line per peer address and reason per minute, the rest counted and written out
 * as "... and 312 more in the last 60 s". A peer cannot decide how much is written to the log.
 */
export class PeerLog {
  private readonly limited: RateLimitedLog;

  constructor(log: Logger, level: 'warn' | 'info' = 'warn') {
    const write = (f: Record<string, unknown>, m: string) => log[level](f, m);
    this.limited = new RateLimitedLog({
      intervalMs: PEER_LOG_INTERVAL_MS,
      write,
      flush: (n, key) => {
        const [reason, peer] = splitKey(key);
        return { fields: { reason, ipaddress: peer, more: n }, msg: moreLine(n, `"${reason}" from ${peer}`, PEER_LOG_INTERVAL_MS) };
      },
    });
  }

  /** One occurrence of `reason` from `ipaddress`. */
  event(reason: string, ipaddress: string | undefined, fields: Record<string, unknown>, msg: string): void {
    this.limited.event(`${reason}\u0000${ipaddress ?? 'unknown'}`, (more) => ({
      fields: { ...fields, reason, ipaddress, ...(more ? { more } : {}) },
      msg: msg + moreSuffix(more, PEER_LOG_INTERVAL_MS, ipaddress ?? 'unknown'),
    }));
  }

  /** Writes out what is still counted (on stop). */
  flush(): void {
    this.limited.flushAll();
  }
}

function splitKey(key: string): [string, string] {
  const i = key.indexOf('\u0000');
  return [key.slice(0, i), key.slice(i + 1)];
}
