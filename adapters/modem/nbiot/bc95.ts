import type { AtEngine } from '../at/engine.ts';
import { isAtError } from '../at/errors.ts';
import { maxDatagram, type ModemConfig } from '../config.ts';
import { canonicalIp, Cellular, type Datagram, type Health, type NbiotDriver, type NbiotEvents, type NetworkState } from './driver.ts';

// Quectel BC95 / BC28 / BC35 ("N" command set, modems.md §3.2). The URC carries the datagram with
// AT+NSONMI=2 (newer firmware); older firmware only says how many bytes wait, read with AT+NSORF.
const NSONMI_DATA = /^\+NSONMI:(\d),([0-9A-Fa-f.:]+),(\d{1,5}),(\d+),([0-9A-Fa-f]*)$/;
const NSONMI = /^\+NSONMI:(\d),(\d+)$/;
const NSOCLI = /^\+NSOCLI: ?(\d)$/;
const NSORF = /^(\d),([0-9A-Fa-f.:]+),(\d{1,5}),(\d+),([0-9A-Fa-f]*),(\d+)$/;
const REBOOT = /^REBOOT_CAUSE_[A-Z_]+$/;
// The rest of the boot text: claimed so it never counts as a command's info line or "unexpected".
const BOOT_NOISE = /^(REBOOTING|Neul|Boot: .*|(Security|Protocol|Apps) [A-Z]\.+ Verified)$/;
// The largest read: a BC28 datagram (a BC95 never has more than 512 waiting).
const READ_MAX = 1358;

export class Bc95Driver implements NbiotDriver {
  readonly maxDatagram: number;
  private readonly net: Cellular;
  private socket: number | undefined;
  private resetting = false;
  private draining = false;
  private drainAgain = false;
  /**
   * The pieces read so far of a datagram longer than one AT+NSORF returns (remaining_length > 0).
   * Kept across drains: a read that fails halfway leaves the rest first in the module's queue, and
   * the next drain must finish this datagram, not publish its tail as one of its own.
   */
  private parts: Buffer[] = [];
  private skipRest = false;

  constructor(
    private readonly engine: AtEngine,
    private readonly cfg: ModemConfig,
    private readonly events: NbiotEvents,
  ) {
    this.maxDatagram = maxDatagram(cfg);
    this.net = new Cellular(engine, cfg, 0);
    engine.onUrc(NSONMI_DATA, (m) => {
      const len = Number(m[4]);
      const hex = m[5] ?? '';
      if (hex.length !== len * 2) return events.malformed(`+NSONMI with ${hex.length / 2} bytes of data for a length of ${len}`);
      events.datagram({ address: canonicalIp(m[2] ?? ''), port: Number(m[3]), payload: Buffer.from(hex, 'hex') });
    });
    engine.onUrc(NSONMI, (m) => {
      if (Number(m[1]) === this.socket) this.drain();
    });
    engine.onUrc(NSOCLI, (m) => {
      if (Number(m[1]) !== this.socket) return;
      this.forgetSocket();
      events.socketClosed(`+NSOCLI: ${m[1]}`);
    });
    engine.onUrc(REBOOT, (m) => {
      this.forgetSocket();
      if (!this.resetting) events.rebooted(m[0]);
    });
    engine.onUrc(BOOT_NOISE, () => {});
  }

  /** The socket is gone (closed, reset, rebooted): so is whatever of a datagram was read. */
  private forgetSocket(): void {
    this.socket = undefined;
    this.parts = [];
    this.skipRest = false;
  }

  get socketOpen(): boolean {
    return this.socket !== undefined;
  }

  async setup(): Promise<void> {
    await this.net.setup();
  }

  async powerUp(): Promise<void> {
    await this.net.powerUp();
  }

  async network(): Promise<NetworkState> {
    const n = await this.net.network();
    // The BC95 registers by itself (AUTOCONNECT); attach is asked for once registered.
    if (n.cfun === 1 && (n.stat === 1 || n.stat === 5) && !n.attached) await this.net.attach();
    return n;
  }

  health(): Promise<Health> {
    return this.net.health();
  }

  async openSocket(port: number): Promise<void> {
    if (this.socket !== undefined) {
      await this.engine.send(`AT+NSOCL=${this.socket}`).catch(() => undefined);
      this.forgetSocket();
    }
    // Data in the URC saves a command per datagram; older firmware refuses it and is read with AT+NSORF.
    await this.engine.send('AT+NSONMI=2').catch((err: unknown) => {
      if (!isAtError(err, 'error')) throw err;
    });
    let r;
    try {
      r = await this.engine.send(`AT+NSOCR=DGRAM,17,${port},1`, { timeoutMs: this.cfg.timeouts.network });
    } catch (err) {
      if (!isAtError(err, 'error')) throw err;
      // A socket left on the port from before (we restarted, the module did not): close 0..6 and retry once.
      for (let id = 0; id <= 6; id++) await this.engine.send(`AT+NSOCL=${id}`).catch(() => undefined);
      r = await this.engine.send(`AT+NSOCR=DGRAM,17,${port},1`, { timeoutMs: this.cfg.timeouts.network });
    }
    const id = r.lines.map((l) => /^(\d)$/.exec(l)?.[1]).find((v) => v !== undefined);
    if (id === undefined) throw new Error(`AT+NSOCR answered no socket id (${r.lines.join(' | ') || 'nothing'})`);
    this.socket = Number(id);
    // Datagrams may have arrived before the socket id was known.
    this.drain();
  }

  async send(d: Datagram): Promise<void> {
    if (this.socket === undefined) throw new Error('no socket open');
    const r = await this.engine.send(`AT+NSOST=${this.socket},${d.address},${d.port},${d.payload.length},${d.payload.toString('hex').toUpperCase()}`, { timeoutMs: this.cfg.timeouts.network });
    const sent = r.lines.map((l) => /^\d,(\d+)$/.exec(l)?.[1]).find((v) => v !== undefined);
    if (sent !== undefined && Number(sent) !== d.payload.length) throw new Error(`the module sent ${sent} of ${d.payload.length} bytes`);
  }

  /** Reads with AT+NSORF until nothing is left; one drain at a time, re-run if a URC came meanwhile. */
  private drain(): void {
    if (this.draining) {
      this.drainAgain = true;
      return;
    }
    this.draining = true;
    void this.readAll().finally(() => {
      this.draining = false;
      if (this.drainAgain) {
        this.drainAgain = false;
        this.drain();
      }
    });
  }

  private async readAll(): Promise<void> {
    for (let i = 0; i < 256 && this.socket !== undefined; i++) {
      let r;
      try {
        r = await this.engine.send(`AT+NSORF=${this.socket},${READ_MAX}`);
      } catch {
        return; // the port closed or the module stopped answering: the runtime's probe takes over
      }
      const line = r.lines.find((l) => NSORF.test(l));
      if (!line) return;
      const m = NSORF.exec(line) as RegExpExecArray;
      const hex = m[5] ?? '';
      const rest = Number(m[6]);
      if (hex.length !== Number(m[4]) * 2) {
        this.events.malformed(`AT+NSORF returned ${hex.length / 2} bytes of data for a length of ${m[4]}`);
        this.parts = [];
        this.skipRest = rest > 0;
        continue;
      }
      // The rest of a garbled datagram is not a datagram of its own.
      if (this.skipRest) {
        this.skipRest = rest > 0;
        continue;
      }
      this.parts.push(Buffer.from(hex, 'hex'));
      // A datagram longer than the read: the rest comes with the next AT+NSORF.
      if (rest > 0) continue;
      this.events.datagram({ address: canonicalIp(m[2] ?? ''), port: Number(m[3]), payload: Buffer.concat(this.parts) });
      this.parts = [];
    }
  }

  async ping(timeoutMs: number): Promise<void> {
    await this.engine.send('AT', { timeoutMs, priority: true });
  }

  async softReset(): Promise<void> {
    this.resetting = true;
    this.forgetSocket();
    try {
      // AT+NRB answers REBOOTING, the boot lines, Neul and finally OK.
      await this.engine.send('AT+NRB', { timeoutMs: this.cfg.timeouts.reboot as number, priority: true });
    } finally {
      this.resetting = false;
    }
  }
}
