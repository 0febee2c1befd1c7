// The scheduler in front of the password checks (scrypt). The bench showed what a plain FIFO with
// "two per address" does under a wrong-password flood: the flood's address runs two checks at
// once, so a valid login from elsewhere waits for one of them (400-700 ms on a loaded machine) and
// then shares both cores with the other. Then, with suspects sharing the slots, that every flood
// check that starts shares a core with the valid check running beside it (the check takes up to
// twice as long). So:
//   - one address has at most one check running (and at most `perAddress` running or waiting);
//   - addresses with no failure on record ("clean") have the `concurrent` slots to themselves,
//     taken round-robin across addresses: a clean check never waits for a suspect one;
//   - "suspect" addresses (a failure on record) have `suspectConcurrent` slots of their own (1),
//     round-robin among themselves; the caller runs those checks at low CPU priority
//     (low-priority.ts), so they take the CPU only when clean checks leave it idle;
//   - suspects can not fill the waiting places either: when all `waiting` are taken and a clean
//     check must wait, the newest suspect waiter is refused ("busy") to make room;
//   - a waiter is asked again just before its check starts (`recheck`): a backoff that opened while
//     it waited (its address's or user's last check failed) refuses it without a check;
//   - a flood's first check has no failure on record yet, so it would run at normal priority beside
//     a valid one (the bench's slowest logins were those at a flood's start). So a check from an
//     address that is not "trusted" (has not logged in as that user before) counts as suspect while
//     a trusted check is running or waiting, or while `alert()` says failures were seen recently.
//     The price: a brand-new device logging in then is checked at low priority, in the suspects' slot.

export type Refusal = { ok: false; reason: 'throttled' | 'busy'; detail: string; retryMs?: number };
/** `lowPriority`: a suspect's check (run it at low CPU priority). */
export type Admission = { ok: true; lowPriority: boolean; release: () => void } | Refusal;

export interface CheckQueueOptions {
  concurrent: number;
  /** Checks running at once for suspect addresses, besides `concurrent`. */
  suspectConcurrent: number;
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
  trusted: boolean;
  recheck: () => Refusal | undefined;
  grant: (a: Admission) => void;
}

export class CheckQueue {
  /** Checks running, by standing of the address when they started. */
  private readonly running = { clean: 0, suspect: 0 };
  /** Addresses with a check running, and whether it runs at low priority. */
  private readonly busy = new Map<string, boolean>();
  /** Waiters by address; the Map's order is the round-robin order (a served address moves to the end). */
  private readonly waiters = new Map<string, Waiter[]>();
  private waitingCount = 0;
  /** Checks of trusted addresses (see above) running. */
  private trustedRunning = 0;
  /** Checks started (each one scrypt). */
  started = 0;
  readonly stats: Record<'clean' | 'suspect', CheckStats> = { clean: { checks: 0, wait_s: 0, check_s: 0 }, suspect: { checks: 0, wait_s: 0, check_s: 0 } };

  /**
   * `suspect(address)`: the address has a failure on record (asked again at each turn);
   * `alert()`: failures were seen recently (an untrusted address's check then counts as suspect).
   */
  constructor(
    private readonly opts: CheckQueueOptions,
    private readonly suspect: (address: string) => boolean,
    private readonly alert: () => boolean = () => false,
  ) {}

  /** The check runs in the suspects' slot, at low priority. */
  private low(address: string, trusted: boolean): boolean {
    if (this.suspect(address)) return true;
    return !trusted && (this.trustedRunning > 0 || this.trustedWaiting() || this.alert());
  }

  /** A check of a trusted, not suspect address is waiting (at most `waiting` to look through). */
  private trustedWaiting(): boolean {
    for (const [address, list] of this.waiters) if (list.some((w) => w.trusted) && !this.suspect(address)) return true;
    return false;
  }

  /** `address` has a check running at low priority (a suspect's, or an untrusted one under pressure). */
  lowRunning(address: string): boolean {
    return this.busy.get(address) === true;
  }

  /** Checks of `address` running or waiting. */
  pending(address: string): number {
    return (this.busy.has(address) ? 1 : 0) + (this.waiters.get(address)?.length ?? 0);
  }

  /**
   * A slot for a check of `address`, now or once its turn comes; refused at once ("busy") when the
   * address or the queue is full.
   */
  request(address: string, recheck: () => Refusal | undefined, trusted = true): Admission | Promise<Admission> {
    const suspect = this.low(address, trusted);
    if (this.pending(address) >= this.opts.perAddress) return { ok: false, reason: 'busy', detail: `a login from ${address} is already being checked` };
    const since = performance.now();
    if (!this.busy.has(address) && this.mayStart(suspect)) return this.start(address, suspect, trusted, since);
    if (this.waitingCount >= this.opts.waiting && (suspect || !this.evictSuspect())) return { ok: false, reason: 'busy', detail: 'too many logins being checked: try again shortly' };
    return new Promise<Admission>((grant) => {
      const w = { since, trusted, recheck, grant };
      const list = this.waiters.get(address);
      if (list) list.push(w);
      else this.waiters.set(address, [w]);
      this.waitingCount++;
    });
  }

  private mayStart(suspect: boolean): boolean {
    return suspect ? this.running.suspect < this.opts.suspectConcurrent : this.running.clean < this.opts.concurrent;
  }

  /** Refuses the newest waiter of a suspect address, to make room for a clean one; false: none waits. */
  private evictSuspect(): boolean {
    let last: [string, Waiter[]] | undefined;
    for (const entry of this.waiters) if (this.low(entry[0], entry[1][0]!.trusted)) last = entry;
    if (!last) return false;
    const [address, list] = last;
    const w = list.pop()!;
    if (!list.length) this.waiters.delete(address);
    this.waitingCount--;
    w.grant({ ok: false, reason: 'busy', detail: 'too many logins being checked: try again shortly' });
    return true;
  }

  private start(address: string, suspect: boolean, trusted: boolean, since: number): Admission {
    const standing = suspect ? 'suspect' : 'clean';
    const counted = trusted && !suspect;
    if (counted) this.trustedRunning++;
    this.running[standing]++;
    this.busy.set(address, suspect);
    this.started++;
    const st = this.stats[standing];
    const t0 = performance.now();
    st.checks++;
    st.wait_s += (t0 - since) / 1000;
    let released = false;
    return {
      ok: true,
      lowPriority: suspect,
      release: () => {
        if (released) return;
        released = true;
        st.check_s += (performance.now() - t0) / 1000;
        this.running[standing]--;
        if (counted) this.trustedRunning--;
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
      w.grant(refused ?? this.start(address, this.low(address, w.trusted), w.trusted, w.since));
    }
  }

  private pick(suspect: boolean): [string, Waiter[]] | undefined {
    if (!this.mayStart(suspect)) return undefined;
    for (const entry of this.waiters) {
      if (!this.busy.has(entry[0]) && this.low(entry[0], entry[1][0]!.trusted) === suspect) return entry;
    }
    return undefined;
  }
}
