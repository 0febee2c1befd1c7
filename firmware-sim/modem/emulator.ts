import { SerialEmulator, type SerialEmulatorOptions } from './serial-emulator.ts';

export type { Faults } from './serial-emulator.ts';

export interface RadioFrame {
  payload: Buffer;
  rssi?: number;
  snr?: number;
}

export interface EmulatorOptions extends SerialEmulatorOptions {
  /** Time on air is multiplied by this before the end-of-transmission line (0 = at once). */
  airtimeScale?: number;
}

/**
 * A serial LoRa module: the serial side is SerialEmulator's; this adds the air (frames from nodes
 * that wait until the radio listens), what was transmitted, and time on air.
 */
export abstract class ModuleEmulator extends SerialEmulator {
  protected readonly airtimeScale: number;
  /** Every payload put on air. */
  readonly transmitted: Buffer[] = [];
  /** Frames waiting for the radio to listen (a node retries until it is heard). */
  protected readonly air: RadioFrame[] = [];

  constructor(opts: EmulatorOptions = {}) {
    super(opts);
    this.airtimeScale = opts.airtimeScale ?? 1;
  }

  abstract readonly listening: boolean;
  protected abstract deliver(f: RadioFrame): void;

  /** A node transmits: heard now if the radio listens, else as soon as it does. */
  rx(f: RadioFrame): void {
    this.air.push(f);
    this.flushAir();
  }

  protected flushAir(): void {
    if (this.faults.urcBeforeFinal) return;
    while (this.listening && this.air.length) this.deliver(this.air.shift() as RadioFrame);
  }

  protected get hasPending(): boolean {
    return this.air.length > 0;
  }

  protected flushPending(): void {
    this.flushAir();
  }

  /** Milliseconds on air for `len` bytes (SX127x datasheet formula), scaled for tests. */
  protected airtime(len: number, sf: number, bwKhz: number, cr45: number, preamble: number): number {
    const ts = Math.pow(2, sf) / bwKhz;
    const lowRate = ts > 16 ? 1 : 0;
    const symbols = 8 + Math.max(Math.ceil((8 * len - 4 * sf + 44) / (4 * (sf - 2 * lowRate))) * (cr45 + 4), 0);
    return ((preamble + 4.25) * ts + symbols * ts) * this.airtimeScale;
  }
}
