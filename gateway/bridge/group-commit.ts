/**
 * When a lane's group commit runs, apart from what a commit writes (the segment log owns the
 * records, the files and the waiters; this owns only the timing, so the policy reads in one place).
 * The first append after a quiet period is committed on the next turn of the loop, so the appends
 * read in the same I/O phase share it and a lone message never waits. Appends arriving while a
 * commit runs share the next commit, which starts the moment that one ends (not on a later turn of
 * the loop: the disk works while the acknowledgements and the consumers' sends are handled), or,
 * with an `interval`, not sooner than `interval` ms after it started (fewer fsyncs under a steady
 * load, at the cost of that wait).
 */
export class GroupCommit {
  private timer?: NodeJS.Timeout | NodeJS.Immediate;
  private current?: Promise<void>;
  private lastStart = 0;
  /** A commit is writing or syncing (its appends are not settled yet). */
  private committing = false;
  /** Records arrived while `committing`: the lane is busy, the next commit keeps the spacing. */
  private busy = false;

  /**
   * `hasWork`: records are waiting for a commit. `commit`: writes and syncs them; it calls
   * `settling()` before it settles its last appends.
   */
  constructor(
    private readonly interval: number,
    private readonly hasWork: () => boolean,
    private readonly commit: () => Promise<void>,
  ) {}

  /** A commit is under way (from its start until its promise settles). */
  get running(): boolean {
    return this.current !== undefined;
  }

  /** Nothing under way and nothing scheduled. */
  get idle(): boolean {
    return !this.current && !this.timer;
  }

  /** Records were appended: a commit is scheduled for them (unless one is already). */
  added(): void {
    if (this.committing) this.busy = true;
    this.schedule();
  }

  /**
   * The running commit has written (or refused) its records. Called before its last appends
   * settle: what their publishers send next finds the lane idle and is committed at once.
   */
  settling(): void {
    this.committing = false;
  }

  /**
   * Idle (called from added, nothing committing): on the next turn of the loop. After a commit
   * (`ended`) with records waiting: at once, or with records that arrived while it ran (`busy`),
   * `interval` after it started if that is still ahead.
   */
  private schedule(busy = false, ended = false): void {
    if (this.current || this.timer || !this.hasWork()) return;
    const wait = busy ? this.lastStart + this.interval - Date.now() : 0;
    if (wait > 0) this.timer = setTimeout(() => this.run(), wait);
    else if (ended) this.run();
    else this.timer = setImmediate(() => this.run());
  }

  private run(): void {
    this.timer = undefined;
    this.lastStart = Date.now();
    this.committing = true;
    this.busy = false;
    this.current = this.commit().finally(() => {
      this.current = undefined;
      this.schedule(this.busy, true);
    });
  }

  /** Cancels the wait and commits everything still waiting, now (closing the log). */
  async drain(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer as NodeJS.Timeout);
      clearImmediate(this.timer as NodeJS.Immediate);
      this.timer = undefined;
    }
    while (this.current || this.hasWork()) {
      if (this.current) await this.current;
      else this.run();
    }
  }
}
