import type { AtEngine, AtResponse, CommandOptions } from '../at/engine.ts';
import type { ModemConfig } from '../config.ts';
import { idempotent } from '../lora/driver.ts';

/** A UDP datagram between an NB-IoT device and the module. */
export interface Datagram {
  address: string;
  port: number;
  payload: Buffer;
}

export interface NbiotEvents {
  datagram(d: Datagram): void;
  /** The network or the module closed the socket (+NSOCLI, +QIURC: "closed" / "pdpdeact"). */
  socketClosed(why: string): void;
  /** The module rebooted on its own: its sockets and settings are gone. */
  rebooted(banner: string): void;
  /** A receive line or read the module garbled. */
  malformed(what: string): void;
}

/** What 3GPP TS 27.007 says about the module's network state. */
export interface NetworkState {
  /** AT+CFUN: 1 = full functionality. */
  cfun: number;
  /** AT+CEREG stat: 1 registered (home), 5 registered (roaming), 2 searching, 0 not searching, 3 denied. */
  stat: number;
  attached: boolean;
  /** The module's address (AT+CGPADDR), when it has one. */
  address?: string;
}

export interface Health extends NetworkState {
  /** AT+CSQ <rssi> (0-31, 99 unknown). */
  csq: number;
  /** The operator as AT+COPS? reports it (numeric PLMN or name). */
  operator?: string;
}

/**
 * One spelling per address, so `nbiot/nb0/<address>/...` topics, remembered ports and CoAP peers
 * match however the module or a user writes it: IPv6 lower-case and compressed (RFC 5952, as the
 * WHATWG URL parser serialises it: `2001:DB8:0:0::7` -> `2001:db8::7`), also from 3GPP TS 27.007's
 * default dot-separated form of 16 decimal bytes (`32.1.13.184.0...` from AT+CGPADDR without
 * AT+CGPIAF). Anything else (IPv4, or not an address) is returned as it is.
 */
export function canonicalIp(a: string): string {
  const octets = a.split('.');
  if (octets.length === 16 && octets.every((o) => /^\d{1,3}$/.test(o) && Number(o) < 256)) {
    const words = [];
    for (let i = 0; i < 16; i += 2) words.push(((Number(octets[i]) << 8) | Number(octets[i + 1])).toString(16));
    return canonicalIp(words.join(':'));
  }
  if (!a.includes(':') || !/^[0-9A-Fa-f:.]+$/.test(a)) return a;
  try {
    return new URL(`http://[${a}]/`).hostname.slice(1, -1);
  } catch {
    return a;
  }
}

export const isRegistered = (stat: number): boolean => stat === 1 || stat === 5;

/** dBm from AT+CSQ's <rssi> (27.007 8.5: 0 = -113 dBm or less, 31 = -51 dBm or more). */
export const csqDbm = (csq: number): number | undefined => (csq >= 0 && csq <= 31 ? -113 + 2 * csq : undefined);

/** One NB-IoT module family, driving one UDP socket. All methods assume an attached engine. */
export interface NbiotDriver {
  readonly maxDatagram: number;
  /** After power-on: echo off, numeric CME errors, module-specific settings. */
  setup(): Promise<void>;
  /** Switch the radio on and ask for attach if it is not (idempotent). */
  powerUp(): Promise<void>;
  network(): Promise<NetworkState>;
  health(): Promise<Health>;
  /** Open the listening socket on `port` (closing a stale one first). */
  openSocket(port: number): Promise<void>;
  readonly socketOpen: boolean;
  /** Send one datagram; never retried (it may have left). */
  send(d: Datagram): Promise<void>;
  ping(timeoutMs: number): Promise<void>;
  softReset(): Promise<void>;
}

/** The 3GPP commands both families share; `sep` is what follows the colon (BC95 none, BG96 a space). */
export class Cellular {
  constructor(
    private readonly engine: AtEngine,
    private readonly cfg: ModemConfig,
    private readonly cid: number,
  ) {}

  cmd(command: string, opts: CommandOptions = {}): Promise<AtResponse> {
    return idempotent(this.engine, this.cfg, command, opts);
  }

  private value(r: AtResponse, name: string): string | undefined {
    const re = new RegExp(`^\\+${name}: ?(.*)$`);
    for (const l of r.lines) {
      const m = re.exec(l);
      if (m) return m[1];
    }
    return undefined;
  }

  async setup(): Promise<void> {
    await this.cmd('AT');
    await this.cmd('ATE0');
    await this.cmd('AT+CMEE=1');
  }

  async powerUp(): Promise<void> {
    const cfun = Number(this.value(await this.cmd('AT+CFUN?'), 'CFUN')?.split(',')[0] ?? -1);
    if (cfun !== 1) await this.engine.send('AT+CFUN=1', { timeoutMs: this.cfg.timeouts.network });
  }

  async network(): Promise<NetworkState> {
    const cfun = Number(this.value(await this.cmd('AT+CFUN?'), 'CFUN')?.split(',')[0] ?? -1);
    const cereg = (this.value(await this.cmd('AT+CEREG?'), 'CEREG') ?? '').split(',');
    // "+CEREG: <n>,<stat>[,...]"; a module that answers with the stat alone is tolerated.
    const stat = Number(cereg.length >= 2 ? cereg[1] : cereg[0]);
    const attached = this.value(await this.cmd('AT+CGATT?'), 'CGATT')?.trim() === '1';
    const addr = this.value(await this.cmd(this.cid === 0 ? 'AT+CGPADDR' : `AT+CGPADDR=${this.cid}`), 'CGPADDR');
    // "+CGPADDR: <cid>,<addr>[,<addr2>]": dual stack gives IPv4 first; the first is the one shown.
    const first = addr?.split(',')[1]?.replace(/"/g, '');
    const address = first ? canonicalIp(first) : undefined;
    return { cfun, stat: Number.isInteger(stat) ? stat : 0, attached, ...(address ? { address } : {}) };
  }

  async health(): Promise<Health> {
    const net = await this.network();
    const csq = Number((this.value(await this.cmd('AT+CSQ'), 'CSQ') ?? '99').split(',')[0]);
    const cops = (this.value(await this.cmd('AT+COPS?'), 'COPS') ?? '').split(',');
    const operator = cops[2]?.replace(/"/g, '');
    return { ...net, csq: Number.isInteger(csq) ? csq : 99, ...(operator ? { operator } : {}) };
  }

  async attach(): Promise<void> {
    await this.engine.send('AT+CGATT=1', { timeoutMs: this.cfg.timeouts.network });
  }
}
