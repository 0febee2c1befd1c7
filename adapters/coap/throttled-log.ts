// A log line for something a remote peer can repeat (rate-limited requests): the first event is
// logged at once, later ones are counted and summarised at most once per interval, with the
// number and the addresses (at most 10 named). Nothing is logged while nothing happens.

export class ThrottledLog {
  private count = 0;
  private readonly addresses = new Set<string>();
  private last = -Infinity;

  constructor(
    private readonly intervalMs: number,
    private readonly write: (count: number, addresses: string[]) => void,
    private readonly now: () => number = Date.now,
  ) {}

  hit(address: string): void {
    this.count++;
    if (this.addresses.size < 10) this.addresses.add(address);
    if (this.now() - this.last >= this.intervalMs) this.flush();
  }

  /** Writes the pending summary if the interval has passed (or `force`). */
  flush(force = false): void {
    if (this.count === 0) return;
    if (!force && this.now() - this.last < this.intervalMs) return;
    this.write(this.count, [...this.addresses]);
    this.count = 0;
    this.addresses.clear();
    this.last = this.now();
  }
}
