import { advertOf } from './advert.ts';
import { Allowlist } from './allow.ts';
import type { BleConfig } from './config.ts';
import { decoderOptions } from './decoder-set.ts';
import { decodeAdvert, type Advert, type DecodeOptions, type DecodeResult } from './decoders/index.ts';
import { guardSigint, hciNoble, releaseNoble, type NobleFactory } from './radio.ts';
import { Scanner } from './scanner.ts';

// `fieldgate ble scan`: what the radio hears, as a table refreshed every second. Publishes nothing.

/** Where the table goes: a terminal redraws it every second, anything else gets it once at the end. */
export interface ScanOutput {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

interface Row {
  address: string;
  name: string;
  rssi: number;
  count: number;
  lastSeen: number;
  match: string;
  allowed: boolean;
}

/** Resolvable private addresses have the top two bits 01 (first hex digit 4-7); they change every few minutes. */
export function isResolvablePrivate(address: string, addressType?: string): boolean {
  return addressType === 'random' && /^[4-7]/.test(address);
}

function describe(r: DecodeResult): string {
  if (!r) return '-';
  if (r.ok) return r.format;
  return `${r.format}: ${r.error}`;
}

export function scanTable(rows: Row[], now: number, width = 120): string {
  const head = ['ADDRESS', 'NAME', 'RSSI', 'SEEN', 'AGE', 'PUBLISH', 'DECODER'];
  const lines = rows
    .sort((a, b) => b.rssi - a.rssi)
    .map((r) => [r.address, r.name || '-', String(r.rssi), String(r.count), `${Math.round((now - r.lastSeen) / 1000)}s`, r.allowed ? 'yes' : 'no', r.match]);
  const all = [head, ...lines];
  const widths = head.map((_, i) => Math.max(...all.map((l) => (l[i] ?? '').length)));
  return all.map((l) => l.map((c, i) => (i === l.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').slice(0, width)).join('\n');
}

/** The table's rows, one per address, updated by each advertisement heard. */
function tracker(cfg: BleConfig, decode: DecodeOptions): { rows: Map<string, Row>; seen(ad: Advert, addressType: string | undefined): void } {
  const rows = new Map<string, Row>();
  const allow = new Allowlist(cfg);
  const seen = (ad: Advert, addressType: string | undefined) => {
    const r = decodeAdvert(ad, decode);
    const row = rows.get(ad.address) ?? { address: ad.address.toUpperCase(), name: '', rssi: -127, count: 0, lastSeen: 0, match: '-', allowed: false };
    row.name = ad.name ?? (row.name || (isResolvablePrivate(ad.address, addressType) ? '(random, rotates)' : ''));
    row.rssi = ad.rssi ?? row.rssi;
    row.count++;
    row.lastSeen = Date.now();
    row.match = describe(r);
    row.allowed = allow.allows(ad.address, r);
    rows.set(ad.address, row);
  };
  return { rows, seen };
}

/** Shows the table until Ctrl-C or `seconds`; resolves with the exit code. */
function showTable(cfg: BleConfig, rows: Map<string, Row>, lost: () => Error | undefined, seconds: number | undefined, out: ScanOutput): Promise<number> {
  const tty = out.isTTY === true;
  const started = Date.now();
  return new Promise<number>((resolve) => {
    const draw = () => {
      const body = scanTable([...rows.values()], Date.now(), tty ? out.columns : 10_000);
      const err = lost();
      const status = `hci${cfg.hci_device}: ${rows.size} devices, ${Math.round((Date.now() - started) / 1000)}s${err ? ` - ${err.message}` : ''}; Ctrl-C to stop`;
      out.write(tty ? `\x1b[H\x1b[2J${status}\n${body}\n` : '');
    };
    const tick = setInterval(draw, 1000);
    const finish = (c: number) => {
      clearInterval(tick);
      process.off('SIGINT', onSigint);
      if (!tty) out.write(`${scanTable([...rows.values()], Date.now(), 10_000)}\n`);
      resolve(c);
    };
    const onSigint = () => finish(0);
    process.on('SIGINT', onSigint);
    if (seconds !== undefined) setTimeout(() => finish(lost() ? 1 : 0), seconds * 1000);
  });
}

export async function scanCommand(cfg: BleConfig, seconds: number | undefined, factory: NobleFactory = hciNoble, out: ScanOutput = process.stdout): Promise<number> {
  if (seconds !== undefined && !(seconds > 0)) {
    process.stderr.write('fieldgate ble scan: --seconds must be a positive number\n');
    return 2;
  }
  const decode = decoderOptions(cfg);
  // Each user decoder has a worker.
  const closeDecoders = () => Promise.all((decode.user ?? []).map((u) => u.close()));
  let noble;
  try {
    noble = factory(cfg.hci_device);
  } catch (err) {
    process.stderr.write(`fieldgate ble scan: ${(err as Error).message}\n`);
    await closeDecoders();
    return 1;
  }
  const { rows, seen } = tracker(cfg, decode);
  let lost: Error | undefined;
  const scanner = new Scanner(noble, cfg.hci_device, {
    advert: (p) => seen(advertOf(p), p.addressType),
    lost: (err) => (lost = err),
    restarted: () => {},
    warning: () => {},
  });
  try {
    await scanner.start(cfg.radio_timeout);
    guardSigint();
    return await showTable(cfg, rows, () => lost, seconds, out);
  } catch (err) {
    process.stderr.write(`fieldgate ble scan: ${(err as Error).message}\n`);
    return 1;
  } finally {
    scanner.stop();
    releaseNoble(noble);
    await closeDecoders();
  }
}
