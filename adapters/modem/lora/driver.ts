import type { AtEngine, AtResponse, CommandOptions } from '../at/engine.ts';
import { isAtError } from '../at/errors.ts';
import type { ModemConfig } from '../config.ts';

export interface RxFrame {
  payload: Buffer;
  rssi?: number;
  snr?: number;
}

/** Whether a failed transmission may have gone on air: never re-send one that might have. */
export type OnAir = 'no' | 'unknown';

export class TxError extends Error {
  constructor(readonly onAir: OnAir, message: string) {
    super(message);
    this.name = 'TxError';
  }
}

export interface DriverEvents {
  frame(f: RxFrame): void;
  /** The module rebooted on its own (banner outside a reset we asked for): its radio state is gone. */
  rebooted(banner: string): void;
  /** A receive line the module garbled (not whole bytes): counted as a malformed frame. */
  malformed(what: string): void;
}

/** One LoRa module family. All methods assume the engine is attached to an open port. */
export interface LoraDriver {
  /** What the module said about itself during init (firmware version). */
  readonly version: string | undefined;
  /** Bring the module to continuous receive with the configured radio settings. */
  init(): Promise<void>;
  /** Stop receive, transmit, wait for the end of transmission, re-arm receive. */
  transmit(payload: Buffer, airtimeMs: number): Promise<void>;
  /** A cheap command that any live module answers. */
  ping(timeoutMs: number): Promise<void>;
  softReset(): Promise<void>;
  /** False when the module is known not to be receiving (a re-arm failed): the probe then re-runs init. */
  readonly receiving: boolean;
}

export const hexOf = (b: Buffer): string => b.toString('hex').toUpperCase();

/**
 * A configuration or read command, retried on timeout and on busy: these are idempotent
 * (modems.md §4.6). Transmissions never go through here.
 */
export async function idempotent(engine: AtEngine, cfg: ModemConfig, command: string, opts: CommandOptions = {}, tries = 3): Promise<AtResponse> {
  for (let i = 1; ; i++) {
    try {
      return await engine.send(command, { timeoutMs: cfg.timeouts.command, ...opts });
    } catch (err) {
      const retry = isAtError(err, 'timeout') || (isAtError(err, 'error') && /busy/i.test(err.final ?? ''));
      if (!retry || i >= tries) throw err;
      await new Promise((r) => setTimeout(r, 50 * i));
    }
  }
}
