import type { AdapterContext } from '../../gateway/core/adapter.ts';
import { isAtError } from './at/errors.ts';

/** What the ladder needs of one modem runtime (LoRa or NB-IoT). */
export interface LadderSteps {
  /** The adapter is stopping: no port is reopened. */
  stopped(): boolean;
  /** Flushes a half-written line on the module's side (the first CRLF ends it). */
  nudge(): void;
  ping(): Promise<void>;
  softReset(): Promise<void>;
  /** The module answers again: set it up and resume (throws when that fails). */
  restore(how: 'ping and re-init' | 'soft reset'): Promise<void>;
  /** Closes and reopens the serial port (its own backoff); the port's open starts bring-up again. */
  reopen(reason: string): Promise<void>;
}

/**
 * The recovery ladder both module families climb (modems.md §4.7): ping up to 3 times, soft reset,
 * then reopen the port after a backoff that doubles with each climb (reconnect.min to .max). One
 * warn line when trouble starts; the runtime logs the way back once, with recovered()'s duration.
 */
export class RecoveryLadder {
  private troubleSince: number | undefined;
  private runs = 0;

  constructor(
    private readonly modem: string,
    private readonly log: AdapterContext['log'],
    private readonly reconnect: { min: number; max: number },
    private readonly steps: LadderSteps,
  ) {}

  /** Seconds since trouble started, or undefined when there was none; either way the ladder starts over. */
  recovered(): number | undefined {
    const since = this.troubleSince;
    this.troubleSince = undefined;
    this.runs = 0;
    return since === undefined ? undefined : (Date.now() - since) / 1000;
  }

  async climb(reason: string): Promise<void> {
    if (this.troubleSince === undefined) {
      this.troubleSince = Date.now();
      this.log.warn({ modem: this.modem, reason }, `modem ${this.modem}: not answering properly (${reason}); recovering: ping, soft reset, reopen the port`);
    } else {
      this.log.debug({ modem: this.modem, reason, run: this.runs }, 'modem: recovery continues');
    }
    this.runs++;
    const s = this.steps;
    s.nudge();
    for (let i = 0; i < 3; i++) {
      try {
        await s.ping();
        return await s.restore('ping and re-init');
      } catch (err) {
        if (isAtError(err, 'closed')) return;
      }
    }
    try {
      await s.softReset();
      return await s.restore('soft reset');
    } catch (err) {
      if (isAtError(err, 'closed')) return;
    }
    const delay = Math.min(this.reconnect.max, this.reconnect.min * 2 ** Math.min(this.runs - 1, 16));
    await new Promise((r) => setTimeout(r, delay));
    if (!s.stopped()) await s.reopen(`modem ${this.modem} not answering`);
  }
}
