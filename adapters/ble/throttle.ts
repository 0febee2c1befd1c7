import type { Value } from './decoders/index.ts';

// Per-device publishing policy: sensors advertise several times a second, so a reading is published
// only when its values changed (change_only), at most once per min_interval (a newer reading
// replaces a pending one), and an unchanged reading again after `heartbeat`.

export interface ThrottleOptions {
  changeOnly: boolean;
  minInterval: number;
  /** 0 = never republish unchanged values. */
  heartbeat: number;
  now?: () => number;
}

interface Slot {
  lastValues?: string;
  lastAt: number;
  pending?: { values: Record<string, Value>; payload: () => void };
  timer?: NodeJS.Timeout;
}

export class Throttle {
  private readonly slots = new Map<string, Slot>();
  private readonly now: () => number;

  constructor(private readonly opts: ThrottleOptions, private readonly max = 10_000) {
    this.now = opts.now ?? Date.now;
  }

  /** A stable text of the values (key order as decoded is stable per format). */
  private static key(values: Record<string, Value>): string {
    return JSON.stringify(Object.keys(values).sort().map((k) => [k, values[k]]));
  }

  /**
   * Offers a reading; `send` runs now or later (once), or never when the reading is unchanged.
   * Returns what happened, for metrics.
   */
  offer(id: string, values: Record<string, Value>, send: () => void): 'sent' | 'deferred' | 'unchanged' {
    let s = this.slots.get(id);
    if (!s) {
      if (this.slots.size >= this.max) this.evictOne();
      s = { lastAt: -Infinity };
      this.slots.set(id, s);
    }
    const t = this.now();
    const text = Throttle.key(values);
    const sameAsSent = s.lastValues === text;
    const heartbeatDue = this.opts.heartbeat > 0 && t - s.lastAt >= this.opts.heartbeat;
    if (this.opts.changeOnly && sameAsSent && !heartbeatDue) {
      // A pending different reading is superseded by this one, which equals what was sent.
      if (s.pending) this.cancel(s);
      return 'unchanged';
    }
    if (t - s.lastAt >= this.opts.minInterval) {
      this.cancel(s);
      this.sent(s, text, t);
      send();
      return 'sent';
    }
    s.pending = { values, payload: send };
    if (!s.timer) {
      const slot = s;
      s.timer = setTimeout(() => this.flush(slot), Math.max(0, s.lastAt + this.opts.minInterval - t));
      s.timer.unref?.();
    }
    return 'deferred';
  }

  private flush(s: Slot): void {
    s.timer = undefined;
    const p = s.pending;
    s.pending = undefined;
    if (!p) return;
    this.sent(s, Throttle.key(p.values), this.now());
    p.payload();
  }

  private sent(s: Slot, text: string, t: number): void {
    s.lastValues = text;
    s.lastAt = t;
  }

  private cancel(s: Slot): void {
    if (s.timer) clearTimeout(s.timer);
    s.timer = undefined;
    s.pending = undefined;
  }

  private evictOne(): void {
    for (const [id, s] of this.slots) {
      if (s.timer) continue;
      this.slots.delete(id);
      return;
    }
  }

  /** Drops every pending reading and timer. */
  close(): void {
    for (const s of this.slots.values()) this.cancel(s);
    this.slots.clear();
  }
}
