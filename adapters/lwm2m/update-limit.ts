// One device's allowance of Updates: a token bucket, so a device cannot flood up/update and the
// registry with Updates (each one is merged, renews state and may be republished).

export class UpdateBucket {
  private tokens: number;
  private at: number;

  /** `rate` Updates per second, bursts of `burst`; rate 0 = no limit. */
  constructor(
    private readonly rate: number,
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.at = now;
  }

  /** 0 when an Update may go on now (and takes its token), else the milliseconds until one may. */
  take(now: number): number {
    if (this.rate <= 0) return 0;
    this.tokens = Math.min(this.burst, this.tokens + (Math.max(0, now - this.at) / 1000) * this.rate);
    this.at = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - this.tokens) / this.rate) * 1000);
  }
}
