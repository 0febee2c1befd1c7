import { isIP } from 'node:net';
import { NbiotEmulator, type Datagram, type NbiotEmulatorOptions } from './nbiot-emulator.ts';

// Quectel BC95 / BC28 ("N" command set, HiSilicon Boudica), per the BC95 AT commands manual as
// summarised in modems.md §3.2 and §7: no space after the colon, bare info lines for the socket
// commands, +NSONMI:<socket>,<length> (or with AT+NSONMI=2 the whole datagram in the URC), and
// AT+NSORF to read. Reboot prints the boot lines, REBOOT_CAUSE_..., Neul and OK.

export interface Bc95Options extends NbiotEmulatorOptions {
  /** Bytes per datagram the module takes (512 BC95, 1358 BC28). */
  maxDatagram?: number;
  /** Older firmware answers ERROR to AT+NSONMI=2 (only the +NSONMI:<socket>,<length> form). */
  nsonmi2?: boolean;
  /**
   * Bytes one AT+NSORF returns at most, whatever is asked (modems.md §3.2: 512 per read on the
   * Huawei platform). A longer datagram comes in pieces, each with the bytes still to read of it
   * in <remaining_length>. Default: maxDatagram.
   */
  readMax?: number;
}

interface Socket {
  port: number;
  queue: Datagram[];
}

export class Bc95Emulator extends NbiotEmulator {
  protected readonly sep = '';
  protected readonly operator = '0,2,"26201"';
  private readonly sockets = new Map<number, Socket>();
  private nsonmi = 1;
  readonly maxDatagram: number;
  private readonly nsonmi2: boolean;
  private readonly readMax: number;

  constructor(opts: Bc95Options = {}) {
    super(opts);
    this.maxDatagram = opts.maxDatagram ?? 512;
    this.nsonmi2 = opts.nsonmi2 ?? true;
    this.readMax = opts.readMax ?? this.maxDatagram;
  }

  get openPorts(): number[] {
    return [...this.sockets.values()].map((s) => s.port);
  }

  protected override powerOn(): void {
    super.powerOn();
    this.sockets.clear();
    this.nsonmi = 1;
  }

  protected isSoftReset(line: string): boolean {
    return line.toUpperCase() === 'AT+NRB';
  }

  protected banner(cause = 'REBOOT_CAUSE_APPLICATION_WATCHDOG'): void {
    this.say('', 'Boot: Unsigned', 'Security B.. Verified', 'Protocol A.. Verified', 'Apps A...... Verified', '', cause, 'Neul', 'OK');
  }

  protected override onCoverageLost(): void {
    // Leaving the network drops what was buffered but keeps the sockets (they are the module's).
    for (const s of this.sockets.values()) s.queue.length = 0;
  }

  deliver(d: Datagram, toPort?: number): void {
    const entry = [...this.sockets.entries()].find(([, s]) => toPort === undefined || s.port === toPort);
    if (!entry || !this.attached) {
      this.lost++;
      return;
    }
    const [id, s] = entry;
    const hex = d.payload.toString('hex').toUpperCase();
    if (this.nsonmi === 2) return this.urc(`+NSONMI:${id},${d.address},${d.port},${d.payload.length},${hex}`);
    s.queue.push(d);
    this.urc(`+NSONMI:${id},${d.payload.length}`);
  }

  closeSocket(): void {
    for (const id of this.sockets.keys()) {
      this.sockets.delete(id);
      this.say(`+NSOCLI: ${id}`);
    }
  }

  protected command(line: string, up: string): boolean {
    if (up === 'AT+NRB') {
      this.say('REBOOTING');
      // The module restarts: the boot lines follow a moment later.
      this.later(20, () => {
        this.powerOn();
        this.banner('REBOOT_CAUSE_APPLICATION_AT');
      });
      return true;
    }
    let m = /^AT\+NSONMI=([0-3])$/.exec(up);
    if (m) {
      if (m[1] === '2' && !this.nsonmi2) {
        this.final('ERROR');
        return true;
      }
      this.nsonmi = Number(m[1]);
      this.final('OK');
      return true;
    }
    m = /^AT\+NSOCR=DGRAM,17,(\d{1,5})(?:,([01]))?$/.exec(up);
    if (m) {
      this.open(Number(m[1]));
      return true;
    }
    // <remote_addr>: IPv4, or IPv6 on a module that has an IPv6 address.
    m = /^AT\+NSOST=(\d),([0-9A-Fa-f.:]+),(\d{1,5}),(\d+),([0-9A-Fa-f]*)$/.exec(line);
    if (m) {
      this.sendTo(Number(m[1]), m[2] ?? '', Number(m[3]), Number(m[4]), m[5] ?? '');
      return true;
    }
    m = /^AT\+NSORF=(\d),(\d+)$/.exec(up);
    if (m) {
      this.read(Number(m[1]), Number(m[2]));
      return true;
    }
    m = /^AT\+NSOCL=(\d)$/.exec(up);
    if (m) {
      if (this.sockets.delete(Number(m[1]))) this.final('OK');
      else this.error(4);
      return true;
    }
    return false;
  }

  private open(port: number): void {
    if ([...this.sockets.values()].some((s) => s.port === port)) return this.error(4);
    let id = 0;
    while (this.sockets.has(id)) id++;
    if (id > 6) return this.error(4);
    this.sockets.set(id, { port, queue: [] });
    this.say(String(id));
    this.final('OK');
  }

  private sendTo(id: number, ip: string, port: number, len: number, hex: string): void {
    if (!this.sockets.has(id)) return this.error(4);
    if (isIP(ip) === 0 || (isIP(ip) === 6 && !this.ip6)) return this.error(50);
    if (hex.length !== len * 2 || len > this.maxDatagram) return this.error(50);
    // Not attached: nothing can leave (the manual's 513 is "not registered" for the CDP path too).
    if (!this.attached) return this.error(513);
    this.transmit({ address: ip, port, payload: Buffer.from(hex, 'hex') });
    this.say(`${id},${len}`);
    this.final('OK');
  }

  private read(id: number, max: number): void {
    const s = this.sockets.get(id);
    if (!s) return this.error(4);
    const d = s.queue[0];
    if (!d) return this.final('OK');
    const part = d.payload.subarray(0, Math.min(max, this.readMax));
    const rest = d.payload.subarray(part.length);
    if (rest.length === 0) s.queue.shift();
    else s.queue[0] = { ...d, payload: rest };
    this.say(`${id},${d.address},${d.port},${part.length},${part.toString('hex').toUpperCase()},${rest.length}`);
    this.final('OK');
  }
}
