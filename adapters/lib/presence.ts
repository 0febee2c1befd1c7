// Online when a device is heard, offline after `timeout` without hearing it (BLE devices, LoRa
// nodes: neither has a connection to be in). The checks run on one interval timer, not a timer per device.

export class Presence {
  private readonly lastSeen = new Map<string, { at: number; exempt: boolean; reported: number }>();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly timeout: number,
    private readonly onOnline: (id: string) => void,
    private readonly onOffline: (id: string) => void,
    private readonly now: () => number = Date.now,
  ) {}

  start(): void {
    // A quarter of the timeout between checks, within 50 ms..5 s: offline is reported at most
    // a quarter late.
    const every = Math.max(50, Math.min(5000, Math.floor(this.timeout / 4)));
    this.timer = setInterval(() => this.sweep(), every);
    this.timer.unref();
  }

  /**
   * `exempt`: a trigger-based BTHome device, silent between events by design; never timed out.
   * Returns true when the device came online or `refreshEvery` ms passed since the last true, so
   * the caller can tell the registry about it without doing so for every advertisement.
   */
  seen(id: string, exempt = false, refreshEvery = 10_000): boolean {
    const was = this.lastSeen.get(id);
    const t = this.now();
    const reported = was && t - was.reported < refreshEvery ? was.reported : t;
    this.lastSeen.set(id, { at: t, exempt: exempt || (was?.exempt ?? false), reported });
    if (!was) this.onOnline(id);
    return reported === t;
  }

  /** Forgets a device without reporting it offline (the caller reports why). False if it was not online. */
  drop(id: string): boolean {
    return this.lastSeen.delete(id);
  }

  get online(): number {
    return this.lastSeen.size;
  }

  isOnline(id: string): boolean {
    return this.lastSeen.has(id);
  }

  sweep(): void {
    const t = this.now();
    for (const [id, s] of this.lastSeen) {
      if (s.exempt || t - s.at < this.timeout) continue;
      this.lastSeen.delete(id);
      this.onOffline(id);
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.lastSeen.clear();
  }
}
