import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Check, DoctorContext, Finding } from './types.ts';

const require = createRequire(import.meta.url);

// `fieldgate doctor` for the BLE adapter: the native HCI addon, the radio (present, not
// rfkill-blocked), and the two capabilities raw HCI needs, for the installed service (its unit
// and drop-ins) or, without one, for this process. Only when adapters.ble is enabled.

const CAP_NET_ADMIN = 12;
const CAP_NET_RAW = 13;
const INSTALL_BLE = 'sudo ./install.sh --ble (from the release directory) adds fieldgate.service.d/ble.conf granting CAP_NET_RAW and CAP_NET_ADMIN; then sudo systemctl restart fieldgate';

export interface BleFacts {
  hci: number;
  /** undefined when the addon loaded; else why not. */
  addonError?: string;
  /** The addon file the process mapped (from /proc/self/maps), when it loaded. */
  addonFile?: string;
  /** Whether /sys/class/bluetooth lists hciN (undefined: cannot tell). */
  present?: boolean;
  /** rfkill state of the Bluetooth switches, when any. */
  rfkill?: 'soft' | 'hard' | 'ok';
  /** This process's effective capabilities. */
  process: { root: boolean; raw: boolean; admin: boolean };
  /** The installed unit's AmbientCapabilities, when a unit is installed. */
  unitCaps?: string[];
}

export function bleFindings(f: BleFacts): Finding[] {
  const dev = `hci${f.hci}`;
  const out: Finding[] = [];
  out.push(
    f.addonError
      ? {
          check: 'ble-addon', status: 'fail',
          message: `the Bluetooth HCI addon (@stoprocent/bluetooth-hci-socket) does not load for ${process.platform}-${process.arch} Node.js ${process.versions.node}: ${f.addonError}`,
          fix: 'it ships prebuilt for linux arm64, armv6, armv7 and x64 (glibc and musl): docs/ble.md, "Installing the HCI addon"',
        }
      : { check: 'ble-addon', status: 'ok', message: `Bluetooth HCI addon loads for ${process.platform}-${process.arch} Node.js ${process.versions.node}${f.addonFile ? ` (${f.addonFile})` : ''}` },
  );
  if (f.present === false) {
    out.push({ check: 'ble-radio', status: 'fail', message: `no Bluetooth adapter ${dev} (/sys/class/bluetooth)`, fix: 'plug in a dongle or enable the built-in radio (no dtoverlay=disable-bt in /boot/firmware/config.txt), or set adapters.ble.hci_device' });
  } else if (f.rfkill === 'soft' || f.rfkill === 'hard') {
    out.push({ check: 'ble-radio', status: 'fail', message: `${dev} is ${f.rfkill === 'hard' ? 'hard' : 'soft'}-blocked by rfkill`, fix: f.rfkill === 'hard' ? 'a hardware switch blocks it' : 'sudo rfkill unblock bluetooth' });
  } else if (f.present === undefined) {
    out.push({ check: 'ble-radio', status: 'warn', message: `cannot tell whether ${dev} exists (no /sys/class/bluetooth readable)`, fix: 'run on the host, not in a container' });
  } else {
    out.push({ check: 'ble-radio', status: 'ok', message: `${dev} present, not rfkill-blocked` });
  }
  if (f.unitCaps !== undefined) {
    const caps = f.unitCaps.map((c) => c.toLowerCase());
    const missing = ['cap_net_raw', 'cap_net_admin'].filter((c) => !caps.includes(c));
    out.push(missing.length
      ? { check: 'ble-caps', status: 'fail', message: `the installed fieldgate service lacks ${missing.map((c) => c.toUpperCase()).join(' and ')} (AmbientCapabilities), which raw HCI needs`, fix: INSTALL_BLE }
      : { check: 'ble-caps', status: 'ok', message: 'the installed fieldgate service has CAP_NET_RAW and CAP_NET_ADMIN' });
  } else if (f.process.root || (f.process.raw && f.process.admin)) {
    out.push({ check: 'ble-caps', status: 'ok', message: `this process may use raw HCI (${f.process.root ? 'root' : 'CAP_NET_RAW + CAP_NET_ADMIN'})` });
  } else {
    out.push({
      check: 'ble-caps', status: 'fail',
      message: 'no fieldgate service installed and this process lacks CAP_NET_RAW/CAP_NET_ADMIN: raw HCI will be refused',
      fix: `install the service with ${INSTALL_BLE.split(' (')[0]}, or for a manual run: sudo setcap cap_net_raw,cap_net_admin+eip $(readlink -f $(command -v node))`,
    });
  }
  return out;
}

function addon(): Pick<BleFacts, 'addonError' | 'addonFile'> {
  try {
    require('@stoprocent/bluetooth-hci-socket');
  } catch (err) {
    return { addonError: (err as Error).message.split('\n')[0] };
  }
  try {
    // Which prebuilt binary was picked (never a compile): the mapped file names the architecture.
    const file = readFileSync('/proc/self/maps', 'utf8').split('\n').map((l) => l.slice(l.indexOf('/'))).find((p) => /bluetooth-hci-socket.*\.node$/.test(p));
    return { addonFile: file };
  } catch {
    return {};
  }
}

function rfkill(): BleFacts['rfkill'] {
  const base = '/sys/class/rfkill';
  if (!existsSync(base)) return undefined;
  let state: BleFacts['rfkill'] = 'ok';
  for (const d of readdirSync(base)) {
    try {
      if (readFileSync(join(base, d, 'type'), 'utf8').trim() !== 'bluetooth') continue;
      if (readFileSync(join(base, d, 'hard'), 'utf8').trim() === '1') return 'hard';
      if (readFileSync(join(base, d, 'soft'), 'utf8').trim() === '1') state = 'soft';
    } catch {
      // a switch that vanished while reading
    }
  }
  return state;
}

function processCaps(): BleFacts['process'] {
  let eff = 0n;
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m?.[1]) eff = BigInt(`0x${m[1]}`);
  } catch {
    // not Linux
  }
  const has = (bit: number) => (eff & (1n << BigInt(bit))) !== 0n;
  return { root: process.getuid?.() === 0, raw: has(CAP_NET_RAW), admin: has(CAP_NET_ADMIN) };
}

/** AmbientCapabilities of the installed unit: from systemd, else from the unit file and its drop-ins. */
function unitCaps(ctx: DoctorContext): string[] | undefined {
  const s = ctx.service;
  if (!s) return undefined;
  if (s.source === 'systemctl') {
    const r = spawnSync('systemctl', ['show', 'fieldgate.service', '-p', 'AmbientCapabilities', '--value'], { encoding: 'utf8', timeout: 3000 });
    if (r.status === 0) return r.stdout.trim().split(/\s+/).filter(Boolean);
  }
  const unit = s.unitFile ?? '/etc/systemd/system/fieldgate.service';
  const files = [unit];
  const dd = join(dirname(unit), 'fieldgate.service.d');
  if (existsSync(dd)) for (const f of readdirSync(dd).sort()) if (f.endsWith('.conf')) files.push(join(dd, f));
  let caps: string[] = [];
  for (const f of files) {
    let text = '';
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const m of text.matchAll(/^AmbientCapabilities=(.*)$/gm)) {
      const v = (m[1] ?? '').trim();
      caps = v ? [...caps, ...v.split(/\s+/)] : [];
    }
  }
  return caps;
}

export const ble: Check = async (ctx) => {
  const cfg = (ctx.config?.adapters as { ble?: { enabled?: boolean; hci_device?: number } } | undefined)?.ble;
  if (!cfg?.enabled) return [{ check: 'ble', status: 'ok', message: 'BLE adapter off (adapters.ble.enabled: false)' }];
  const hci = cfg.hci_device ?? 0;
  const sys = '/sys/class/bluetooth';
  const present = existsSync(sys) ? readdirSync(sys).includes(`hci${hci}`) : process.platform === 'linux' ? false : undefined;
  return bleFindings({ hci, ...addon(), present, rfkill: rfkill(), process: processCaps(), unitCaps: unitCaps(ctx) });
};
