import { SerialEmulator, type SerialEmulatorOptions } from './serial-emulator.ts';

/** A UDP datagram on the operator's network, between an NB-IoT device and the gateway's module. */
export interface Datagram {
  /** The device's address and port (the source of an uplink, the destination of a reply). */
  address: string;
  port: number;
  payload: Buffer;
}

export interface NbiotEmulatorOptions extends SerialEmulatorOptions {
  /** Echo at power-on (both modules ship with echo on). */
  echo?: boolean;
  /** In coverage at power-on: the module registers as soon as it is switched on. Default true. */
  coverage?: boolean;
  /** The address the network gives the module ('' for none: IPv6 only). */
  ip?: string;
  /** Its IPv6 address, as AT+CGPADDR prints it (after the IPv4 one, dual stack). Default none. */
  ip6?: string;
  csq?: number;
  /**
   * The radio at power-on: 1 on (default), 0 off until AT+CFUN=1 (a BC95 set to
   * AT+NCONFIG=AUTOCONNECT,FALSE, or a module last switched off with AT+CFUN=0 and saved).
   */
  cfun?: 0 | 1;
  /**
   * Attaches by itself once registered (default true). false: registered but detached
   * (AT+CGATT? 0, no address, no data) until AT+CGATT=1, as modems.md §3.2's bring-up asks for.
   */
  autoAttach?: boolean;
}

/**
 * What the BC95 and BG96 emulators share (modems.md §3, §7): the 3GPP TS 27.007 commands for
 * power, registration, attach, address and signal, the CME error mode, and the network around the
 * module: datagrams from devices (lost while the module is not registered or has no socket on
 * their port, as on a real network) and a listener for what the module sends.
 */
export abstract class NbiotEmulator extends SerialEmulator {
  protected echo: boolean;
  protected readonly echoAtPowerOn: boolean;
  protected cmee = 0;
  protected cfun: number;
  private readonly cfunAtPowerOn: number;
  private readonly autoAttach: boolean;
  /** Packet-switched attach asked for (AT+CGATT=1) or refused (AT+CGATT=0); follows autoAttach at power-on. */
  private psAttach: boolean;
  coverage: boolean;
  ip: string;
  ip6: string | undefined;
  csq: number;
  /** Datagrams the module put on the network, in order. */
  readonly sent: Datagram[] = [];
  /** Datagrams from devices that found no registered module or no socket. */
  lost = 0;
  private readonly sendListeners = new Set<(d: Datagram) => void>();
  /** URCs held back by the urcBeforeFinal fault until the next final result. */
  private readonly heldUrcs: string[] = [];
  /** The next commands matching `match` answer +CME ERROR: code (or ERROR without AT+CMEE=1). */
  private cmeFault: { code: number; count: number; match: RegExp; skip: number } | undefined;

  constructor(opts: NbiotEmulatorOptions = {}) {
    super(opts);
    this.echoAtPowerOn = opts.echo ?? true;
    this.echo = this.echoAtPowerOn;
    this.coverage = opts.coverage ?? true;
    this.ip = opts.ip ?? '10.64.0.1';
    this.ip6 = opts.ip6;
    this.csq = opts.csq ?? 23;
    this.cfunAtPowerOn = opts.cfun ?? 1;
    this.cfun = this.cfunAtPowerOn;
    this.autoAttach = opts.autoAttach ?? true;
    this.psAttach = this.autoAttach;
  }

  /** Registered on the network: switched on and in coverage. */
  get registered(): boolean {
    return this.cfun === 1 && this.coverage;
  }

  /** Registered and attached: has an address, and datagrams flow. */
  get attached(): boolean {
    return this.registered && this.psAttach;
  }

  /** AT+CFUN now (0 radio off, 1 on). */
  get radio(): number {
    return this.cfun;
  }

  /** The module leaves coverage (or the network refuses it): registration is lost at once. */
  loseCoverage(): void {
    this.coverage = false;
    this.onCoverageLost();
  }

  /** Coverage is back: the module registers again by itself (it was never switched off). */
  regainCoverage(): void {
    this.coverage = true;
  }

  /** A device sends a datagram to the module's address, on `toPort` (default: the first socket's port). */
  abstract deliver(d: Datagram, toPort?: number): void;
  /** The network closes the socket (BC95 +NSOCLI, BG96 +QIURC: "closed"). */
  abstract closeSocket(): void;
  /** Ports of the sockets open now. */
  abstract get openPorts(): number[];
  protected onCoverageLost(): void {}

  /** Called for every datagram the module sends (a device simulator listens here). */
  onSend(fn: (d: Datagram) => void): () => void {
    this.sendListeners.add(fn);
    return () => this.sendListeners.delete(fn);
  }

  /** The next `count` commands matching `match` (default: any) answer +CME ERROR: `code`, after `skip` matching ones answered normally. */
  cmeError(code: number, count = 1, match = /./, skip = 0): void {
    this.cmeFault = { code, count, match, skip };
  }

  /** True until every +CME ERROR asked for by cmeError() has been answered. */
  get cmeErrorPending(): boolean {
    return this.cmeFault !== undefined;
  }

  /** An unsolicited line; with the urcBeforeFinal fault it waits for the next command's final result. */
  protected urc(line: string): void {
    if (this.faults.urcBeforeFinal) this.heldUrcs.push(line);
    else this.say(line);
  }

  protected get hasPending(): boolean {
    return this.heldUrcs.length > 0;
  }

  protected flushPending(): void {
    this.say(...this.heldUrcs.splice(0));
  }

  protected transmit(d: Datagram): void {
    this.sent.push(d);
    for (const fn of this.sendListeners) fn(d);
  }

  protected powerOn(): void {
    this.echo = this.echoAtPowerOn;
    this.cmee = 0;
    this.cfun = this.cfunAtPowerOn;
    this.psAttach = this.autoAttach;
  }

  protected error(code: number): void {
    this.final(this.cmee === 1 ? `+CME ERROR: ${code}` : 'ERROR');
  }

  /** The separator after a response name: BC95 writes `+CSQ:23,99`, BG96 `+CSQ: 23,99`. */
  protected abstract readonly sep: string;
  protected abstract readonly operator: string;
  /** The module-specific command set; returns false when the command is unknown. */
  protected abstract command(line: string, up: string): boolean;

  protected onCommand(line: string): void {
    if (this.echo) this.say(line);
    const up = line.toUpperCase();
    const f = this.cmeFault;
    if (f && f.match.test(line) && f.skip-- <= 0) {
      if (--f.count <= 0) this.cmeFault = undefined;
      return this.error(f.code);
    }
    if (this.common(up)) return;
    if (!this.command(line, up)) this.final('ERROR');
  }

  /** The 3GPP commands both modules answer alike; false when `up` is not one of them. */
  private common(up: string): boolean {
    const s = this.sep;
    const answer = this.commonAnswer(up);
    if (answer === undefined) return false;
    if (answer === 'OK') this.final('OK');
    else {
      this.say(`${answer.name}:${s}${answer.value}`);
      this.final('OK');
    }
    return true;
  }

  /** 'OK' for a setting taken, a response line for a read, undefined for anything else. */
  private commonAnswer(up: string): 'OK' | { name: string; value: string } | undefined {
    if (up === 'AT') return 'OK';
    if (up === 'ATE0' || up === 'ATE1') {
      this.echo = up === 'ATE1';
      return 'OK';
    }
    const cmee = /^AT\+CMEE=([012])$/.exec(up);
    if (cmee) {
      this.cmee = Number(cmee[1]);
      return 'OK';
    }
    const cfun = /^AT\+CFUN=([01])$/.exec(up);
    if (cfun) {
      this.cfun = Number(cfun[1]);
      if (this.cfun === 0) this.onCoverageLost();
      return 'OK';
    }
    if (/^AT\+CEREG=[0-5]$/.test(up)) return 'OK';
    const cgatt = /^AT\+CGATT=([01])$/.exec(up);
    if (cgatt) {
      // Taken at once; the attach itself happens once registered (modems.md §7: poll AT+CGATT?).
      this.psAttach = cgatt[1] === '1';
      return 'OK';
    }
    const cid = this.sep === '' ? 0 : 1;
    switch (up) {
      case 'AT+CFUN?':
        return { name: '+CFUN', value: String(this.cfun) };
      // CEREG stat (3GPP TS 27.007 10.1.22): 1 registered home, 2 searching, 0 not searching.
      case 'AT+CEREG?':
        return { name: '+CEREG', value: `0,${this.registered ? 1 : this.cfun === 1 ? 2 : 0}` };
      case 'AT+CGATT?':
        return { name: '+CGATT', value: this.attached ? '1' : '0' };
      case 'AT+CGPADDR':
      case 'AT+CGPADDR=0':
      case 'AT+CGPADDR=1':
        return { name: '+CGPADDR', value: this.attached ? [cid, this.ip, this.ip6].filter((a) => a !== undefined && a !== '').join(',') : String(cid) };
      case 'AT+CSQ':
        return { name: '+CSQ', value: `${this.registered ? this.csq : 99},99` };
      case 'AT+COPS?':
        return { name: '+COPS', value: this.registered ? this.operator : '0' };
      default:
        return undefined;
    }
  }

}
