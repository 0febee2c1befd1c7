import { SerialPort } from 'serialport';
import { backoffDelay } from '../../../gateway/core/backoff.ts';

export interface LinkLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export interface LinkOptions {
  name: string;
  path: string;
  baudRate: number;
  log: LinkLog;
  /** Reopen backoff, doubled per failed attempt with ±25 % jitter. */
  backoffMinMs: number;
  backoffMaxMs: number;
  onData(chunk: Buffer): void;
  /** The port is open (first time or again): the owner re-runs its bring-up. */
  onOpen(): void;
  onClose(reason: string): void;
}

/**
 * The serial port with its lifecycle: open, notice it vanish (USB unplug, socat gone), reopen with
 * backoff. Exactly one warn line when it goes away (or cannot be opened) and one info line when it
 * is back; the attempts in between log at debug.
 */
export class SerialLink {
  private port: SerialPort | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = true;
  private attempt = 0;
  private downSince: number | undefined;
  opens = 0;
  vanished = 0;

  constructor(private readonly o: LinkOptions) {}

  get isOpen(): boolean {
    return this.port?.isOpen === true;
  }

  start(): void {
    this.stopped = false;
    this.open();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.closePort();
  }

  write(data: Buffer): void {
    const port = this.port;
    if (!port?.isOpen) return;
    port.write(data, (err) => {
      if (err) this.o.log.debug({ modem: this.o.name, err: err.message }, 'modem: serial write failed');
    });
  }

  /**
   * Close and open again (last rung of the recovery ladder). The port did not go away, so this
   * logs at debug only: the owner logs once when its trouble starts and once when it ends, and a
   * module that stays hung must not add a pair of lines per ladder run. If the port then cannot be
   * opened, that is a real loss and gets the usual warn / info pair.
   */
  async reopen(reason: string): Promise<void> {
    await this.closePort();
    this.o.onClose(reason);
    if (this.stopped) return;
    this.o.log.debug({ modem: this.o.name, path: this.o.path, reason }, 'modem: reopening serial port (recovery)');
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.open(), 0);
  }

  private open(): void {
    if (this.stopped) return;
    const port = new SerialPort({ path: this.o.path, baudRate: this.o.baudRate, autoOpen: false });
    this.port = port;
    port.on('data', (chunk: Buffer) => this.o.onData(chunk));
    let lastError: string | undefined;
    port.on('error', (err: Error) => {
      lastError = err.message;
      this.o.log.debug({ modem: this.o.name, err: err.message }, 'modem: serial port error');
    });
    port.on('close', (err: (Error & { disconnected?: boolean }) | null) => {
      if (this.port !== port) return;
      this.port = undefined;
      this.lost(err ? `${err.disconnected ? 'disconnected: ' : ''}${err.message}` : `closed${lastError ? `: ${lastError}` : ''}`);
    });
    port.open((err) => {
      if (this.port !== port) return;
      if (err) {
        this.port = undefined;
        this.lost(`cannot open: ${err.message}`);
        return;
      }
      this.opens++;
      this.attempt = 0;
      if (this.downSince !== undefined) {
        const secs = ((Date.now() - this.downSince) / 1000).toFixed(1);
        this.o.log.info({ modem: this.o.name, path: this.o.path, down_s: Number(secs) }, `modem ${this.o.name}: serial port ${this.o.path} is back after ${secs} s`);
        this.downSince = undefined;
      } else {
        this.o.log.debug({ modem: this.o.name, path: this.o.path }, 'modem: serial port opened');
      }
      this.o.onOpen();
    });
  }

  private lost(reason: string): void {
    this.o.onClose(reason);
    if (this.stopped) return;
    if (this.downSince === undefined) {
      this.downSince = Date.now();
      this.vanished++;
      const line = `modem ${this.o.name}: serial port ${this.o.path} unavailable (${reason}); retrying every ${this.o.backoffMinMs} ms up to ${this.o.backoffMaxMs} ms until it is back`;
      this.o.log.warn({ modem: this.o.name, path: this.o.path, reason }, line);
    } else {
      this.o.log.debug({ modem: this.o.name, attempt: this.attempt, reason }, 'modem: reopen attempt failed');
    }
    const delay = backoffDelay(this.attempt++, { initial: this.o.backoffMinMs, max: this.o.backoffMaxMs, jitter: 0.25, spread: 'around' });
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.open(), delay);
  }

  private closePort(): Promise<void> {
    const port = this.port;
    this.port = undefined;
    if (!port?.isOpen) return Promise.resolve();
    return new Promise((resolve) => port.close(() => resolve()));
  }
}
