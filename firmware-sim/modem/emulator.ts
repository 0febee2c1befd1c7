import { SerialPort } from 'serialport';

export interface RadioFrame {
  payload: Buffer;
  rssi?: number;
  snr?: number;
}

/** Faults a scenario can inject (modems.md §7). Counters apply to the next n commands. */
export interface Faults {
  /** Every output is written in random 1-7 byte pieces with short pauses. */
  split: boolean;
  /** The next n final results (OK / ok / errors) are not sent. */
  dropFinal: number;
  /** The next n commands are answered by a reboot banner instead (a brown-out mid-command). */
  rebootOnCommand: number;
  /** Answers nothing: 'reset' is lifted by the soft reset command, 'total' only by clearFaults() (a module that needs power). */
  hang: false | 'reset' | 'total';
  /** The next n transmit or radio-setting commands answer busy. */
  busy: number;
  /** Received frames are written between the next command's info lines and its final result. */
  urcBeforeFinal: boolean;
  /** The final result of the next n transmit commands is lost, though the payload goes on air. */
  dropSendFinal: number;
  /** The next n end-of-transmission lines (TXP2P DONE / radio_tx_ok) are lost; the payload was on air. */
  dropTxEnd: number;
}

const NO_FAULTS: Faults = { split: false, dropFinal: 0, rebootOnCommand: 0, hang: false, busy: 0, urcBeforeFinal: false, dropSendFinal: 0, dropTxEnd: 0 };

/** Deterministic PRNG (mulberry32), so a split pattern replays from its seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface EmulatorOptions {
  /** Time on air is multiplied by this before the end-of-transmission line (0 = at once). */
  airtimeScale?: number;
  seed?: number;
}

/**
 * The device side of a serial LoRa module: reads command lines from its end of the pty, answers
 * through say(), and lets a scenario inject frames and faults. Subclasses implement one dialect,
 * written from the module's manual (modems.md §1 and §7), not from the adapter.
 */
export abstract class ModuleEmulator {
  private port: SerialPort | undefined;
  private pendingIn = '';
  private out: Promise<void> = Promise.resolve();
  private readonly random: () => number;
  protected readonly airtimeScale: number;
  faults: Faults = { ...NO_FAULTS };
  /** Every command line received, in order. */
  readonly commands: string[] = [];
  /** Every payload put on air. */
  readonly transmitted: Buffer[] = [];
  /** Frames waiting for the radio to listen (a node retries until it is heard). */
  protected readonly air: RadioFrame[] = [];
  /** Bytes written to the gateway, for the benchmark's line-rate figure. */
  bytesOut = 0;
  private timers = new Set<NodeJS.Timeout>();

  constructor(opts: EmulatorOptions = {}) {
    this.airtimeScale = opts.airtimeScale ?? 1;
    this.random = rng(opts.seed ?? 1);
  }

  abstract readonly listening: boolean;
  protected abstract onCommand(line: string): void;
  /** Power-on state (after a reboot or when plugged in again). */
  protected abstract powerOn(): void;
  protected abstract deliver(f: RadioFrame): void;
  protected abstract isSoftReset(line: string): boolean;

  async attach(path: string, baudRate: number): Promise<void> {
    const port = new SerialPort({ path, baudRate, autoOpen: false });
    await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
    this.port = port;
    this.pendingIn = '';
    port.on('data', (b: Buffer) => this.onData(b));
    port.on('error', () => {});
    port.on('close', () => {
      if (this.port === port) this.port = undefined;
    });
  }

  /** Unplugged: the module loses power, so it is not listening until set up again. */
  async detach(): Promise<void> {
    const port = this.port;
    this.port = undefined;
    this.powerOn();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    if (port?.isOpen) await new Promise<void>((r) => port.close(() => r()));
  }

  fault(f: Partial<Faults>): void {
    this.faults = { ...this.faults, ...f };
  }

  clearFaults(): void {
    this.faults = { ...NO_FAULTS };
  }

  /** A node transmits: heard now if the radio listens, else as soon as it does. */
  rx(f: RadioFrame): void {
    this.air.push(f);
    this.flushAir();
  }

  protected flushAir(): void {
    if (this.faults.urcBeforeFinal) return;
    while (this.listening && this.air.length) this.deliver(this.air.shift() as RadioFrame);
  }

  /** Bytes of line noise, as a module prints at power-up or a loose wire produces. */
  garbage(bytes: Buffer): void {
    this.write(bytes);
  }

  /** A reboot nobody asked for (watchdog, brown-out). */
  reboot(): void {
    this.powerOn();
    this.banner();
  }

  protected abstract banner(): void;

  protected say(...lines: string[]): void {
    this.write(Buffer.from(lines.map((l) => `${l}\r\n`).join(''), 'latin1'));
  }

  /** A final result: subject to dropFinal, and the place where urcBeforeFinal inserts frames. */
  protected final(line: string): void {
    if (this.faults.urcBeforeFinal && this.air.length) {
      this.faults.urcBeforeFinal = false;
      this.flushAir();
    }
    if (this.faults.dropFinal > 0) {
      this.faults.dropFinal--;
      return;
    }
    this.say(line);
  }

  protected later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  /** Consumes one unit of a counted fault. */
  protected take(f: 'dropSendFinal' | 'dropTxEnd'): boolean {
    if (this.faults[f] <= 0) return false;
    this.faults[f]--;
    return true;
  }

  protected takeBusy(): boolean {
    if (this.faults.busy <= 0) return false;
    this.faults.busy--;
    return true;
  }

  protected write(data: Buffer): void {
    const port = this.port;
    if (!port) return;
    this.bytesOut += data.length;
    if (!this.faults.split) {
      this.out = this.out.then(() => new Promise<void>((r) => port.write(data, () => r())));
      return;
    }
    const pieces: Buffer[] = [];
    for (let i = 0; i < data.length; ) {
      const n = 1 + Math.floor(this.random() * 7);
      pieces.push(data.subarray(i, i + n));
      i += n;
    }
    for (const p of pieces) {
      this.out = this.out.then(() => new Promise<void>((r) => port.write(p, () => port.drain(() => setTimeout(r, 1)))));
    }
  }

  private onData(b: Buffer): void {
    this.pendingIn += b.toString('latin1');
    for (;;) {
      const m = /[\r\n]/.exec(this.pendingIn);
      if (!m) break;
      const line = this.pendingIn.slice(0, m.index);
      this.pendingIn = this.pendingIn.slice(m.index + 1);
      if (line.length === 0) continue;
      this.commands.push(line);
      this.handle(line);
    }
  }

  private handle(line: string): void {
    if (this.faults.hang) {
      if (this.faults.hang === 'reset' && this.isSoftReset(line)) {
        this.faults.hang = false;
        this.reboot();
      }
      return;
    }
    if (this.faults.rebootOnCommand > 0) {
      this.faults.rebootOnCommand--;
      this.reboot();
      return;
    }
    this.onCommand(line);
  }

  /** Milliseconds on air for `len` bytes (SX127x datasheet formula), scaled for tests. */
  protected airtime(len: number, sf: number, bwKhz: number, cr45: number, preamble: number): number {
    const ts = Math.pow(2, sf) / bwKhz;
    const lowRate = ts > 16 ? 1 : 0;
    const symbols = 8 + Math.max(Math.ceil((8 * len - 4 * sf + 44) / (4 * (sf - 2 * lowRate))) * (cr45 + 4), 0);
    return ((preamble + 4.25) * ts + symbols * ts) * this.airtimeScale;
  }
}
