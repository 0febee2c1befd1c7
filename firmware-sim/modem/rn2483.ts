import { ModuleEmulator, type EmulatorOptions, type RadioFrame } from './emulator.ts';

// Microchip RN2483 raw radio mode, per the command reference (DS40001784G) as summarised in
// modems.md §1.3 and §7: no echo, lower-case replies, `radio rx`/`radio tx` answer `ok` and later
// a second line; `radio_rx` is followed by two spaces.

const BANNER = 'RN2483 1.0.5 Oct 31 2018 15:06:52';

export class Rn2483Emulator extends ModuleEmulator {
  private receiving = false;
  private wdt = 15000;
  private radio = { mod: 'lora', freq: 868100000, pwr: 1, sf: 12, bw: 125, cr: 1, prlen: 8, crc: 'on', sync: '34' };
  private lastSnr = 0;
  private lastRssi = 0;
  macPaused = false;

  constructor(opts: EmulatorOptions = {}) {
    super(opts);
  }

  get listening(): boolean {
    return this.receiving;
  }

  protected powerOn(): void {
    this.receiving = false;
    this.macPaused = false;
    this.wdt = 15000;
  }

  protected isSoftReset(line: string): boolean {
    return line === 'sys reset';
  }

  protected banner(): void {
    this.say(BANNER);
  }

  protected deliver(f: RadioFrame): void {
    this.receiving = false;
    this.lastSnr = f.snr ?? 7;
    this.lastRssi = f.rssi ?? -62;
    this.say(`radio_rx  ${f.payload.toString('hex').toUpperCase()}`);
  }

  protected onCommand(line: string): void {
    const w = line.split(' ');
    const [a, b, c, d] = w;
    if (a === 'sys' && b === 'reset' && w.length === 2) return this.reboot();
    if (a === 'sys' && b === 'get' && c === 'ver') return this.final(BANNER);
    if (a === 'mac' && b === 'pause') {
      this.macPaused = true;
      return this.final('4294967245');
    }
    if (a === 'mac' && b === 'resume') {
      this.macPaused = false;
      return this.final('ok');
    }
    if (a === 'radio' && b === 'get' && c === 'snr') return this.final(String(this.lastSnr));
    if (a === 'radio' && b === 'get' && c === 'rssi') return this.final(String(this.lastRssi));
    if (a === 'radio' && b === 'set' && c !== undefined && d !== undefined && w.length === 4) return this.set(c, d);
    if (a === 'radio' && b === 'rx' && c !== undefined && w.length === 3) return this.startRx(c);
    if (a === 'radio' && b === 'rxstop' && w.length === 2) {
      this.receiving = false;
      return this.final('ok');
    }
    if (a === 'radio' && b === 'tx' && c !== undefined && w.length === 3) return this.tx(c);
    this.final('invalid_param');
  }

  private set(param: string, v: string): void {
    if (this.receiving || this.takeBusy()) return this.final('busy');
    const n = Number(v);
    const ok: Record<string, () => boolean> = {
      mod: () => v === 'lora' || v === 'fsk',
      freq: () => Number.isInteger(n) && ((n >= 433050000 && n <= 434790000) || (n >= 863000000 && n <= 870000000)),
      pwr: () => Number.isInteger(n) && n >= -3 && n <= 15,
      sf: () => /^sf(7|8|9|10|11|12)$/.test(v),
      bw: () => ['125', '250', '500'].includes(v),
      cr: () => ['4/5', '4/6', '4/7', '4/8'].includes(v),
      prlen: () => Number.isInteger(n) && n >= 0 && n <= 65535,
      crc: () => v === 'on' || v === 'off',
      sync: () => /^[0-9a-fA-F]{1,2}$/.test(v),
      wdt: () => Number.isInteger(n) && n >= 0 && n <= 4294967295,
    };
    const check = ok[param];
    if (!check?.()) return this.final('invalid_param');
    if (param === 'sf') this.radio.sf = Number(v.slice(2));
    else if (param === 'cr') this.radio.cr = Number(v.slice(2)) - 4;
    else if (param === 'wdt') this.wdt = n;
    else if (param === 'bw' || param === 'freq' || param === 'pwr' || param === 'prlen') this.radio[param] = n;
    this.final('ok');
  }

  private startRx(v: string): void {
    if (!/^\d+$/.test(v)) return this.final('invalid_param');
    if (!this.macPaused) return this.final('busy');
    if (this.receiving) return this.final('busy');
    this.receiving = true;
    this.final('ok');
    if (this.wdt > 0) {
      this.later(this.wdt, () => {
        if (!this.receiving) return;
        this.receiving = false;
        this.say('radio_err');
      });
    }
    this.flushAir();
  }

  private tx(hex: string): void {
    if (!/^([0-9A-Fa-f]{2}){1,255}$/.test(hex)) return this.final('invalid_param');
    if (!this.macPaused || this.receiving || this.takeBusy()) return this.final('busy');
    const payload = Buffer.from(hex, 'hex');
    if (!this.take('dropSendFinal')) this.final('ok');
    this.transmitted.push(payload);
    const r = this.radio;
    const lost = this.take('dropTxEnd');
    this.later(this.airtime(payload.length, r.sf, r.bw, r.cr, r.prlen), () => {
      if (!lost) this.say('radio_tx_ok');
    });
  }
}
