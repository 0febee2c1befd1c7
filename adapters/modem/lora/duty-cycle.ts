/** One ETSI EN 300 220 sub-band as LoRaMac-node codes it for EU868 (RegionEU868.c/.h). */
export interface SubBand {
  name: string;
  minHz: number;
  maxHz: number;
  /** Fraction of time, e.g. 0.01 for 1 %. */
  dutyCycle: number;
}

export const EU868_BANDS: readonly SubBand[] = [
  { name: 'g (863.0-865.0 MHz, 0.1 %)', minHz: 863_000_000, maxHz: 865_000_000, dutyCycle: 0.001 },
  { name: 'g (865.0-868.0 MHz, 1 %)', minHz: 865_000_000, maxHz: 868_000_000, dutyCycle: 0.01 },
  { name: 'g1 (868.0-868.6 MHz, 1 %)', minHz: 868_000_001, maxHz: 868_600_000, dutyCycle: 0.01 },
  { name: 'g2 (868.7-869.2 MHz, 0.1 %)', minHz: 868_700_000, maxHz: 869_200_000, dutyCycle: 0.001 },
  { name: 'g3 (869.4-869.65 MHz, 10 %)', minHz: 869_400_000, maxHz: 869_650_000, dutyCycle: 0.1 },
  { name: 'g4 (869.7-870.0 MHz, 1 %)', minHz: 869_700_000, maxHz: 870_000_000, dutyCycle: 0.01 },
];

export function bandFor(frequencyHz: number, bands: readonly SubBand[] = EU868_BANDS): SubBand | undefined {
  return bands.find((b) => frequencyHz >= b.minHz && frequencyHz <= b.maxHz);
}

export type Admission = { ok: true } | { ok: false; waitMs: number; reason: string };

/**
 * Airtime ledger for one sub-band over a sliding window (1 h by default): the sum of time on air
 * inside any window never exceeds dutyCycle x window. Transmissions are recorded when they are
 * admitted, before they go to the modem, so a send whose outcome is unknown still counts.
 */
export class DutyCycleLedger {
  private readonly sends: { at: number; ms: number }[] = [];

  constructor(
    readonly band: SubBand,
    private readonly windowMs = 3_600_000,
    private readonly now: () => number = Date.now,
  ) {}

  get budgetMs(): number {
    return this.band.dutyCycle * this.windowMs;
  }

  usedMs(): number {
    this.expire();
    let sum = 0;
    for (const s of this.sends) sum += s.ms;
    return sum;
  }

  /** Whether `ms` of airtime may start now; if not, how long until it may (or Infinity). */
  check(ms: number): Admission {
    const budget = this.budgetMs;
    if (ms > budget) return { ok: false, waitMs: Infinity, reason: `one transmission of ${ms.toFixed(1)} ms exceeds the ${budget.toFixed(0)} ms per-window budget of sub-band ${this.band.name}` };
    const used = this.usedMs();
    if (used + ms <= budget) return { ok: true };
    // Free enough by letting the oldest sends leave the window.
    let freed = 0;
    let waitMs = 0;
    const t = this.now();
    for (const s of this.sends) {
      freed += s.ms;
      waitMs = s.at + this.windowMs - t;
      if (used - freed + ms <= budget) break;
    }
    return {
      ok: false,
      waitMs: Math.max(0, waitMs),
      reason: `duty cycle: sub-band ${this.band.name} has used ${used.toFixed(0)} of ${budget.toFixed(0)} ms in the last ${this.windowMs / 1000} s; ${ms.toFixed(1)} ms more would exceed it (free again in ${(Math.max(0, waitMs) / 1000).toFixed(1)} s)`,
    };
  }

  record(ms: number): void {
    this.sends.push({ at: this.now(), ms });
  }

  /** The transmissions still inside the window, oldest first (what a restart must not forget). */
  entries(): { at: number; ms: number }[] {
    this.expire();
    return this.sends.map((s) => ({ ...s }));
  }

  /** Transmissions from before a restart; ones already outside the window are ignored. */
  restore(entries: readonly { at: number; ms: number }[]): void {
    this.sends.push(...entries);
    this.sends.sort((a, b) => a.at - b.at);
    this.expire();
  }

  private expire(): void {
    const cutoff = this.now() - this.windowMs;
    while (this.sends.length && (this.sends[0] as { at: number }).at <= cutoff) this.sends.shift();
  }
}
