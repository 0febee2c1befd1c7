// The scheduler in front of the password checks (scrypt, on libuv's threadpool). The bench showed
// what a plain FIFO with "two per address" does under a wrong-password flood: the flood's address
// runs two checks at once, so a valid login from elsewhere waits for one of them (400-700 ms on a
// loaded machine) and then shares both cores with the other. So:
//   - one address has at most one check running (and at most `perAddress` running or waiting);
//   - the next check to start is that of an address with no failure on record ("clean") when one
//     waits, taken round-robin across addresses; "suspect" addresses (a failure on record) come
//     after, round-robin among themselves;
//   - suspects never hold more than `concurrent - 1` slots (when there are two or more), so a clean
//     login always finds a slot free or is next: at most one suspect check runs ahead of it;
//   - a waiter is asked again just before its check starts (`recheck`): a backoff that opened while
//     it waited (its address's or user's last check failed) refuses it without a check.

export type Refusal = { ok: false; reason: 'throttled' | 'busy'; detail: string; retryMs?: number };
export type Admission = { ok: true; release: () => void } | Refusal;

export interface CheckQueueOptions {
  concurrent: number;
  /** Checks waiting, all addresses together. */
  waiting: number;
  /** Checks running or waiting for one address. */
  perAddress: number;
}

/** Per standing of the address when its check started: checks run, seconds waited for a slot, seconds checking. */
export interface CheckStats {
  checks: number;
  wait_s: number;
  check_s: number;
}

interface Waiter {
  since: number;
  recheck: () => Refusal | undefined;
  grant: (a: Admission) => void;
}

export class CheckQueue {
  private running = 0;
  private runningSuspect = 0;
  /** Addresses with a check running. */
  private readonly busy = new Set<string>();
  /** Waiters by address; the Map's order is the round-robin order (a served address moves to the end). */
  private readonly waiters = new Map<string, Waiter[]>();
  private waitingCount = 0;
  /** Checks started (each one scrypt). */
  started = 0;
  readonly stats: Record<'clean' | 'suspect', CheckStats> = { clean: { checks: 0, wait_s: 0, check_s: 0 }, suspect: { checks: 0, wait_s: 0, check_s: 0 } };

  /** `suspect(address)`: the address has a failure on record (asked again at each turn). */
  constructor(private readonly opts: CheckQueueOptions, private readonly suspect: (address: string) => boolean) {}

  /** Checks of `address` running or waiting. */
  pending(address: string): number {
    return (this.busy.has(address) ? 1 : 0) + (this.waiters.get(address)?.length ?? 0);
  }

  /**
   * A slot for a check of `address`, now or once its turn comes; refused at once ("busy") when the
   * address or the queue is full.
   */
  request(address: string, recheck: () => Refusal | undefined): Admission | Promise<Admission> {
    const suspect = this.suspect(address);
    if (this.pending(address) >= this.opts.perAddress) return { ok: false, reason: 'busy', detail: `a login from ${address} is already being checked` };
    const since = performance.now();
    if (!this.busy.has(address) && this.mayStart(suspect)) return this.start(address, suspect, since);
    if (this.waitingCount >= this.opts.waiting) return { ok: false, reason: 'busy', detail: 'too many logins being checked: try again shortly' };
    return new Promise<Admission>((grant) => {
      const list = this.waiters.get(address);
      if (list) list.push({ since, recheck, grant });
      else this.waiters.set(address, [{ since, recheck, grant }]);
      this.waitingCount++;
    });
  }

  private mayStart(suspect: boolean): boolean {
    if (this.running >= this.opts.concurrent) return false;
    return !suspect || this.runningSuspect < Math.max(1, this.opts.concurrent - 1);
  }

  private start(address: string, suspect: boolean, since: number): Admission {
    this.running++;
    if (suspect) this.runningSuspect++;
    this.busy.add(address);
    this.started++;
    const st = this.stats[suspect ? 'suspect' : 'clean'];
    const t0 = performance.now();
    st.checks++;
    st.wait_s += (t0 - since) / 1000;
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        st.check_s += (performance.now() - t0) / 1000;
        this.running--;
        if (suspect) this.runningSuspect--;
        this.busy.delete(address);
        this.dispatch();
      },
    };
  }

  /** Starts waiting checks while slots allow: clean addresses first, each round-robin. */
  private dispatch(): void {
    for (;;) {
      const next = this.pick(false) ?? this.pick(true);
      if (!next) return;
      const [address, list] = next;
      const w = list.shift()!;
      this.waitingCount--;
      this.waiters.delete(address);
      if (list.length) this.waiters.set(address, list); // to the end of the rotation
      const refused = w.recheck();
      w.grant(refused ?? this.start(address, this.suspect(address), w.since));
    }
  }

  private pick(suspect: boolean): [string, Waiter[]] | undefined {
    if (!this.mayStart(suspect)) return undefined;
    for (const entry of this.waiters) {
      if (!this.busy.has(entry[0]) && this.suspect(entry[0]) === suspect) return entry;
    }
    return undefined;
  }
}
