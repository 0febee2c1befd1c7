import { poweredOn, radioProblem, type NobleLike, type Peripheral } from './radio.ts';

// Keeps noble scanning with duplicates allowed (sensors repeat their readings; without duplicates
// the controller's filter would hide every reading after the first). Scanning is started again
// when it stops without being asked (bluetoothd or another tool on the shared HCI channel changed
// it), and paused while a GATT connection is created.

export interface ScannerEvents {
  advert(p: Peripheral): void;
  /** The radio went away (poweredOff, reset, lost permission) after scanning had started. */
  lost(err: Error): void;
  restarted(): void;
  /** noble's own warnings (unknown peripheral callbacks and the like); without a listener noble prints them. */
  warning(message: string): void;
}

export class Scanner {
  private running = false;
  private paused = 0;
  private restartTimer?: NodeJS.Timeout;
  private readonly onDiscover = (p: Peripheral) => this.events.advert(p);
  private readonly onWarning = (message: string) => this.events.warning(message);
  private readonly onState = (state: string) => {
    if (!this.running || state === 'poweredOn') return;
    this.running = false;
    const code = state === 'unauthorized' ? 'unauthorized' : state === 'unsupported' ? 'unsupported' : 'powered_off';
    const err = radioProblem(code, this.hci);
    err.message = `BLE radio went ${state} (reset, rfkill or unplugged); scanning restarts when it is back. ${err.message}`;
    this.events.lost(err);
  };
  private readonly onScanStop = () => {
    if (!this.running || this.paused > 0 || this.restartTimer) return;
    // Not ours: someone else stopped the controller's scan. Start again shortly (not at once, so
    // two programs fighting over the scan state cannot spin).
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (!this.running || this.paused > 0) return;
      this.events.restarted();
      this.scan().catch((err: Error) => this.events.lost(err));
    }, 1000);
    this.restartTimer.unref();
  };

  constructor(private readonly noble: NobleLike, private readonly hci: number, private readonly events: ScannerEvents) {}

  /** Waits for poweredOn and starts scanning; rejects with a RadioUnavailable. */
  async start(timeoutMs: number): Promise<void> {
    await poweredOn(this.noble, this.hci, timeoutMs);
    this.noble.on('discover', this.onDiscover);
    this.noble.on('warning', this.onWarning);
    this.noble.on('stateChange', this.onState);
    this.noble.on('scanStop', this.onScanStop);
    this.running = true;
    try {
      await this.scan();
    } catch (err) {
      this.stop();
      throw err;
    }
  }

  private scan(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.noble.startScanning([], true, (err) => (err ? reject(radioProblem('timeout', this.hci, err.message)) : resolve()));
    });
  }

  pause(): void {
    if (this.paused++ === 0 && this.running) this.noble.stopScanning(() => {});
  }

  resume(): void {
    if (this.paused > 0) this.paused--;
    if (this.paused > 0 || !this.running) return;
    this.scan().catch((err: Error) => this.events.lost(err));
  }

  stop(): void {
    const was = this.running;
    this.running = false;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.noble.off('discover', this.onDiscover);
    this.noble.off('warning', this.onWarning);
    this.noble.off('stateChange', this.onState);
    this.noble.off('scanStop', this.onScanStop);
    if (was) this.noble.stopScanning(() => {});
  }
}
