import { SerialPort } from 'serialport';

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
  /** Pending unsolicited lines (received frames, datagram notices) are written between the next command's info lines and its final result. */
  urcBeforeFinal: boolean;
  /** The final result of the next n transmit commands is lost, though the payload goes on air. */
  dropSendFinal: number;
  /** The next n end-of-transmission lines (TXP2P DONE / radio_tx_ok) are lost; the payload was on air. */
  dropTxEnd: number;
}

export const NO_FAULTS: Faults = { split: false, dropFinal: 0, rebootOnCommand: 0, hang: false, busy: 0, urcBeforeFinal: false, dropSendFinal: 0, dropTxEnd: 0 };

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

export interface SerialEmulatorOptions {
  seed?: number;
}

/**
 * The device side of any AT-style serial module: reads command lines from its end of the pty
 * (or a given number of raw bytes after a prompt), answers through say(), and applies the faults
 * every module shares (split output, dropped finals, reboots mid-command, hangs). Subclasses
 * implement one dialect, written from the module's manual (modems.md §7), never from the adapter.
 */
export abstract class SerialEmulator {
  private port: SerialPort | undefined;
  private pendingIn = '';
  private skipLf = false;
  private rawIn: { left: number; parts: string[]; done: (data: Buffer) => void } | undefined;
  private out: Promise<void> = Promise.resolve();
  private readonly random: () => number;
  faults: Faults = { ...NO_FAULTS };
  /** Every command line received, in order. */
  readonly commands: string[] = [];
  /** Bytes written to the gateway, for the benchmark's line-rate figure. */
  bytesOut = 0;
  private timers = new Set<NodeJS.Timeout>();

  constructor(opts: SerialEmulatorOptions = {}) {
    this.random = rng(opts.seed ?? 1);
  }

  protected abstract onCommand(line: string): void;
  /** Power-on state (after a reboot or when plugged in again). */
  protected abstract powerOn(): void;
  protected abstract isSoftReset(line: string): boolean;
  protected abstract banner(): void;
  /** Writes the unsolicited lines waiting (received frames, datagram notices); the urcBeforeFinal fault calls it before a final result. */
  protected abstract flushPending(): void;
  protected abstract get hasPending(): boolean;

  async attach(path: string, baudRate: number): Promise<void> {
    const port = new SerialPort({ path, baudRate, autoOpen: false });
    await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
    this.port = port;
    this.pendingIn = '';
    this.rawIn = undefined;
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

  /** Bytes of line noise, as a module prints at power-up or a loose wire produces. */
  garbage(bytes: Buffer): void {
    this.write(bytes);
  }

  /** A reboot nobody asked for (watchdog, brown-out). */
  reboot(): void {
    this.powerOn();
    this.banner();
  }

  protected say(...lines: string[]): void {
    this.write(Buffer.from(lines.map((l) => `${l}\r\n`).join(''), 'latin1'));
  }

  /** A final result: subject to dropFinal, and the place where urcBeforeFinal inserts pending lines. */
  protected final(line: string): void {
    if (this.faults.urcBeforeFinal && this.hasPending) {
      this.faults.urcBeforeFinal = false;
      this.flushPending();
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
  protected take(f: 'dropSendFinal' | 'dropTxEnd' | 'busy' | 'dropFinal' | 'rebootOnCommand'): boolean {
    if (this.faults[f] <= 0) return false;
    this.faults[f]--;
    return true;
  }

  protected takeBusy(): boolean {
    return this.take('busy');
  }

  /** The next `n` bytes from the host are data, not a command line (after a `> ` prompt). */
  protected readRaw(n: number, done: (data: Buffer) => void): void {
    this.rawIn = { left: n, parts: [], done };
    if (this.pendingIn.length > 0) {
      const rest = this.pendingIn;
      this.pendingIn = '';
      this.onData(Buffer.from(rest, 'latin1'));
    }
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
    let text = b.toString('latin1');
    // The LF of a CRLF that ended the previous chunk belongs to that line, not to raw data.
    if (this.skipLf && text.startsWith('\n')) text = text.slice(1);
    this.skipLf = false;
    if (this.rawIn) {
      const r = this.rawIn;
      const take = text.slice(0, r.left);
      r.parts.push(take);
      r.left -= take.length;
      text = text.slice(take.length);
      if (r.left > 0) return;
      this.rawIn = undefined;
      r.done(Buffer.from(r.parts.join(''), 'latin1'));
    }
    this.pendingIn += text;
    for (;;) {
      if (this.rawIn) return;
      const m = /[\r\n]/.exec(this.pendingIn);
      if (!m) break;
      const line = this.pendingIn.slice(0, m.index);
      const crlf = this.pendingIn.startsWith('\r\n', m.index);
      this.pendingIn = this.pendingIn.slice(m.index + (crlf ? 2 : 1));
      if (m[0] === '\r' && !crlf && this.pendingIn.length === 0) this.skipLf = true;
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
    if (this.take('rebootOnCommand')) {
      this.reboot();
      return;
    }
    this.onCommand(line);
  }
}
