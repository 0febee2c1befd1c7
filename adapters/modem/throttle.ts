/**
 * One log line per key per interval: a stranger's radio or a noisy line can repeat the same fault
 * many times a second. The next line after a quiet period says how many were not logged.
 */
export class Throttle {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(private readonly intervalMs = 60_000, private readonly maxKeys = 1000) {}

  /** Calls `emit` with the suppressed count when this key may log now. */
  run(key: string, emit: (suppressed: number) => void): void {
    const now = Date.now();
    const e = this.last.get(key);
    if (e && now - e.at < this.intervalMs) {
      e.suppressed++;
      return;
    }
    if (!e && this.last.size >= this.maxKeys) this.last.clear();
    this.last.set(key, { at: now, suppressed: 0 });
    emit(e?.suppressed ?? 0);
  }
}
