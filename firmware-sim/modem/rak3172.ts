import { ModuleEmulator, type EmulatorOptions, type RadioFrame } from './emulator.ts';

// RAK3172 with RUI3 firmware in LoRa P2P, per the RUI3 AT command manual as summarised in
// modems.md §1.1 and §7: AT+XXX=? reads echo the command name, statuses are OK / AT_*_ERROR,
// AT+NWM=<n> and ATZ reboot and print a banner instead of a status.

export interface Rak3172Options extends EmulatorOptions {
  /** Work mode at power-on: 0 = LoRa P2P, 1 = LoRaWAN (the factory default). */
  nwm?: number;
  echo?: boolean;
  /** Emit the pre-3.2 two-line receive event instead of +EVT:RXP2P:<rssi>:<snr>:<hex>. */
  legacyEvents?: boolean;
  version?: string;
}

const CONTINUOUS = 65534;
const ONE_PACKET = 65535;

export class Rak3172Emulator extends ModuleEmulator {
  private echo: boolean;
  private nwm: number;
  private rxMode = 0;
  private p2p = { freq: 868000000, sf: 7, bw: 125, cr: 0, ppl: 8, pwr: 14 };
  private readonly version: string;
  private readonly legacy: boolean;

  constructor(opts: Rak3172Options = {}) {
    super(opts);
    this.echo = opts.echo ?? false;
    this.nwm = opts.nwm ?? 1;
    this.version = opts.version ?? '4.1.0';
    this.legacy = opts.legacyEvents ?? false;
  }

  get listening(): boolean {
    return this.rxMode === CONTINUOUS || this.rxMode === ONE_PACKET || (this.rxMode > 0 && this.rxMode < CONTINUOUS);
  }

  get mode(): { nwm: number; rx: number; p2p: string } {
    const p = this.p2p;
    return { nwm: this.nwm, rx: this.rxMode, p2p: `${p.freq}:${p.sf}:${p.bw}:${p.cr}:${p.ppl}:${p.pwr}` };
  }

  protected powerOn(): void {
    // Work mode and radio settings are kept in flash; receive mode and echo are not.
    this.rxMode = 0;
  }

  protected isSoftReset(line: string): boolean {
    return line.toUpperCase() === 'ATZ';
  }

  protected banner(): void {
    this.say('RAKwireless RAK3172-E Example', '------------------------------------------------------', `Current Work Mode: ${this.nwm === 0 ? 'LoRa P2P' : this.nwm === 2 ? 'FSK P2P' : 'LoRaWAN'}.`);
  }

  protected deliver(f: RadioFrame): void {
    const hex = f.payload.toString('hex').toUpperCase();
    const rssi = f.rssi ?? -60;
    const snr = f.snr ?? 9;
    if (this.legacy) this.say(`+EVT:RXP2P, RSSI ${rssi}, SNR ${snr}`, `+EVT:${hex}`);
    else this.say(`+EVT:RXP2P:${rssi}:${snr}:${hex}`);
    if (this.rxMode !== CONTINUOUS) this.rxMode = 0;
  }

  private status(s: string): void {
    this.final(s);
  }

  protected onCommand(line: string): void {
    if (this.echo) this.say(line);
    const up = line.toUpperCase();
    if (up === 'AT') return this.status('OK');
    if (up === 'ATE') {
      this.echo = !this.echo;
      return this.status('OK');
    }
    if (up === 'ATZ') return this.reboot();
    const m = /^AT\+([A-Z0-9]+)(=(\?|.*))?$/.exec(up);
    if (!m) return this.status('AT_COMMAND_NOT_FOUND');
    const [, name = '', assign, arg] = m;
    const read = arg === '?';
    if (assign === undefined) return this.status('AT_PARAM_ERROR');
    switch (name) {
      case 'VER':
        return read ? this.value('VER', this.version) : this.status('AT_PARAM_ERROR');
      case 'NWM':
        return read ? this.value('NWM', String(this.nwm)) : this.setNwm(arg ?? '');
      case 'P2P':
        return read ? this.value('P2P', this.mode.p2p) : this.setP2p(arg ?? '');
      case 'PRECV':
        return read ? this.value('PRECV', String(this.rxMode)) : this.precv(arg ?? '');
      case 'PSEND':
        return this.psend(line.slice(line.indexOf('=') + 1));
      case 'PFREQ':
      case 'PSF':
      case 'PBW':
      case 'PCR':
      case 'PPL':
      case 'PTP':
        return this.param(name, read, arg ?? '');
      default:
        return this.status('AT_COMMAND_NOT_FOUND');
    }
  }

  private value(name: string, v: string): void {
    this.say(`AT+${name}=${v}`);
    this.status('OK');
  }

  private setNwm(arg: string): void {
    if (!/^[012]$/.test(arg)) return this.status('AT_PARAM_ERROR');
    this.nwm = Number(arg);
    this.reboot();
  }

  private get p2pAllowed(): string | undefined {
    if (this.nwm !== 0) return 'AT_ERROR';
    if (this.rxMode === CONTINUOUS || this.takeBusy()) return 'AT_BUSY_ERROR';
    return undefined;
  }

  private setP2p(arg: string): void {
    const refuse = this.p2pAllowed;
    if (refuse) return this.status(refuse);
    const f = arg.split(':').map(Number);
    const [freq, sf, bw, cr, ppl, pwr] = f;
    const valid =
      f.length === 6 && f.every(Number.isInteger) && (freq as number) >= 150e6 && (freq as number) <= 960e6 && (sf as number) >= 5 && (sf as number) <= 12 && [125, 250, 500].includes(bw as number) && (cr as number) >= 0 && (cr as number) <= 3 && (ppl as number) >= 5 && (ppl as number) <= 65535 && (pwr as number) >= 5 && (pwr as number) <= 22;
    if (!valid) return this.status('AT_PARAM_ERROR');
    this.p2p = { freq: freq as number, sf: sf as number, bw: bw as number, cr: cr as number, ppl: ppl as number, pwr: pwr as number };
    this.status('OK');
  }

  private param(name: string, read: boolean, arg: string): void {
    const key = ({ PFREQ: 'freq', PSF: 'sf', PBW: 'bw', PCR: 'cr', PPL: 'ppl', PTP: 'pwr' } as const)[name as 'PFREQ'];
    if (read) return this.value(name, String(this.p2p[key]));
    const refuse = this.p2pAllowed;
    if (refuse) return this.status(refuse);
    if (!/^\d+$/.test(arg)) return this.status('AT_PARAM_ERROR');
    this.p2p[key] = Number(arg);
    this.status('OK');
  }

  private precv(arg: string): void {
    if (!/^\d+$/.test(arg) || Number(arg) > 65535) return this.status('AT_PARAM_ERROR');
    const t = Number(arg);
    if (this.nwm !== 0) return this.status('AT_ERROR');
    if (this.rxMode === CONTINUOUS && t !== 0) return this.status('AT_BUSY_ERROR');
    this.rxMode = t;
    this.status('OK');
    if (t > 0 && t < CONTINUOUS) {
      this.later(t, () => {
        if (this.rxMode !== t) return;
        this.rxMode = 0;
        this.say('+EVT:RXP2P RECEIVE TIMEOUT');
      });
    }
    this.flushAir();
  }

  private psend(hex: string): void {
    if (this.nwm !== 0) return this.status('AT_ERROR');
    if (!/^([0-9A-Fa-f]{2}){1,255}$/.test(hex)) return this.status('AT_PARAM_ERROR');
    if (this.rxMode === CONTINUOUS || this.takeBusy()) return this.status('AT_BUSY_ERROR');
    const payload = Buffer.from(hex, 'hex');
    if (!this.take('dropSendFinal')) this.status('OK');
    this.transmitted.push(payload);
    const p = this.p2p;
    const lost = this.take('dropTxEnd');
    this.later(this.airtime(payload.length, p.sf, p.bw, p.cr + 1, p.ppl), () => {
      if (!lost) this.say('+EVT:TXP2P DONE');
    });
  }
}
