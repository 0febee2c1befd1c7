import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

// What doctor needs to know about the installed fieldgate systemd unit:
//  - whether the service runs, and its main PID: a port or serial device held by that very
//    process is the healthy state, not a conflict (doctor is meant to be run on a live install);
//  - the sandbox the unit puts the gateway in (ProtectSystem=strict + ReadWritePaths, DevicePolicy
//    + DeviceAllow): a data directory or serial device that works for doctor, which runs outside
//    the sandbox, can still be read-only or EPERM for the service.
// `systemctl show` answers with the unit as loaded (drop-ins included); without a running systemd
// (a chroot, a container, an image build) the installed unit files are parsed instead.

export const UNIT = 'fieldgate.service';

export interface DeviceRule {
  /** char-<driver glob>, block-<driver glob>, or a device node path. */
  spec: string;
  /** r, w, m letters. */
  access: string;
}

export interface ServiceInfo {
  /** Where this came from: `systemctl show`, or the unit files on disk. */
  source: 'systemctl' | 'unit-file';
  /** The unit file (FragmentPath) when known. */
  unitFile?: string;
  /** The service is running (only systemctl can tell). */
  active: boolean;
  /** Its main process while active. */
  mainPid?: number;
  /** Absolute paths the service may write: ReadWritePaths= plus StateDirectory= (under /var/lib). */
  readWritePaths: string[];
  protectSystem: string;
  protectHome: string;
  privateTmp: boolean;
  devicePolicy: string;
  deviceAllow: DeviceRule[];
}

const PROPERTIES = ['LoadState', 'ActiveState', 'MainPID', 'FragmentPath', 'ReadWritePaths', 'StateDirectory', 'ProtectSystem', 'ProtectHome', 'PrivateTmp', 'DevicePolicy', 'DeviceAllow'];

const yes = (v: string | undefined) => /^(1|yes|true|on)$/i.test(v ?? '');
/** ReadWritePaths entries may carry a '-' (ignore if missing) or '+' (outside the root) prefix. */
const stripPrefix = (p: string) => p.replace(/^[-+]+/, '');

function finish(fields: { rw: string[]; state: string[] }): string[] {
  const out = fields.rw.map(stripPrefix).filter((p) => p.startsWith('/'));
  for (const s of fields.state) if (s) out.push(join('/var/lib', s.split(':')[0]!));
  return [...new Set(out)];
}

/**
 * Parses `systemctl show --property=... fieldgate.service`. DeviceAllow comes one `DeviceAllow=path
 * rwm` line per rule; list properties (ReadWritePaths, StateDirectory) come space-separated on one
 * line. Undefined when the unit is not installed (LoadState=not-found) or the output is not that.
 */
export function parseSystemctlShow(text: string): ServiceInfo | undefined {
  const single = new Map<string, string>();
  const deviceAllow: DeviceRule[] = [];
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1).trim();
    if (key === 'DeviceAllow') {
      const [spec, access = 'rwm'] = value.split(/\s+/);
      if (spec) deviceAllow.push({ spec, access });
    } else single.set(key, value);
  }
  const load = single.get('LoadState');
  if (!load || load === 'not-found' || load === 'masked') return undefined;
  const split = (k: string) => (single.get(k) ?? '').split(/\s+/).filter(Boolean);
  const pid = Number(single.get('MainPID'));
  const active = ['active', 'reloading', 'activating', 'deactivating'].includes(single.get('ActiveState') ?? '');
  return {
    source: 'systemctl',
    unitFile: single.get('FragmentPath') || undefined,
    active,
    mainPid: active && pid > 0 ? pid : undefined,
    readWritePaths: finish({ rw: split('ReadWritePaths'), state: split('StateDirectory') }),
    protectSystem: single.get('ProtectSystem') || 'no',
    protectHome: single.get('ProtectHome') || 'no',
    privateTmp: yes(single.get('PrivateTmp')),
    devicePolicy: single.get('DevicePolicy') || 'auto',
    deviceAllow,
  };
}

/**
 * Reads the [Service] sandbox settings from unit file texts, in order (the unit, then its
 * drop-ins): list settings append, an empty assignment resets them, like systemd does.
 */
export function parseUnitFiles(texts: string[], unitFile?: string): ServiceInfo {
  const rw: string[] = [];
  const state: string[] = [];
  const deviceAllow: DeviceRule[] = [];
  let protectSystem = 'no', protectHome = 'no', privateTmp = false, devicePolicy = 'auto';
  for (const text of texts) {
    let section = '';
    // Continuation lines end in a backslash.
    for (const raw of text.replace(/\\\r?\n/g, ' ').split(/\r?\n/)) {
      const line = raw.trim();
      if (!line || line.startsWith('#') || line.startsWith(';')) continue;
      if (line.startsWith('[')) {
        section = line;
        continue;
      }
      if (section !== '[Service]') continue;
      const eq = line.indexOf('=');
      if (eq <= 0) continue;
      const key = line.slice(0, eq).trim();
      const value = line.slice(eq + 1).trim();
      const list = (into: string[]) => (value ? into.push(...value.split(/\s+/)) : into.splice(0));
      switch (key) {
        case 'ReadWritePaths': list(rw); break;
        case 'StateDirectory': list(state); break;
        case 'ProtectSystem': protectSystem = value || 'no'; break;
        case 'ProtectHome': protectHome = value || 'no'; break;
        case 'PrivateTmp': privateTmp = yes(value); break;
        case 'DevicePolicy': devicePolicy = value || 'auto'; break;
        case 'DeviceAllow':
          if (!value) deviceAllow.splice(0);
          else {
            const [spec, access = 'rwm'] = value.split(/\s+/);
            deviceAllow.push({ spec: spec!, access });
          }
          break;
      }
    }
  }
  return { source: 'unit-file', unitFile, active: false, readWritePaths: finish({ rw, state }), protectSystem, protectHome, privateTmp, devicePolicy, deviceAllow };
}

/** The installed unit file and its drop-ins under `root`, parsed; undefined when not installed. */
export function readInstalledUnit(root = '/'): ServiceInfo | undefined {
  for (const dir of ['etc/systemd/system', 'usr/local/lib/systemd/system', 'usr/lib/systemd/system', 'lib/systemd/system']) {
    const file = join(root, dir, UNIT);
    if (!existsSync(file)) continue;
    const texts = [readFileSync(file, 'utf8')];
    // Drop-ins from every directory systemd reads them from, ordered by file name.
    const dropIns = new Map<string, string>();
    for (const d of ['usr/lib/systemd/system', 'lib/systemd/system', 'usr/local/lib/systemd/system', 'etc/systemd/system', 'run/systemd/system']) {
      const dd = join(root, d, `${UNIT}.d`);
      if (!existsSync(dd)) continue;
      for (const f of readdirSync(dd)) if (f.endsWith('.conf')) dropIns.set(f, join(dd, f));
    }
    for (const name of [...dropIns.keys()].sort()) texts.push(readFileSync(dropIns.get(name)!, 'utf8'));
    return parseUnitFiles(texts, join('/', dir, UNIT));
  }
  return undefined;
}

/** The fieldgate unit as systemd sees it, or as installed on disk when systemd cannot answer. */
export function serviceInfo(): ServiceInfo | undefined {
  const r = spawnSync('systemctl', ['show', `--property=${PROPERTIES.join(',')}`, UNIT], { encoding: 'utf8', timeout: 3000 });
  if (r.status === 0 && /^LoadState=/m.test(r.stdout ?? '')) return parseSystemctlShow(r.stdout);
  // No systemctl, or no systemd running (it says "System has not been booted with systemd").
  return readInstalledUnit('/');
}

// --- what the running service holds ---------------------------------------------------------

/**
 * Inodes of the sockets bound to `port`: TCP sockets in LISTEN state from /proc/net/tcp and tcp6,
 * or UDP sockets from /proc/net/udp and udp6. Only the port is compared: whatever address a
 * holder bound, a bind conflict on that port is with it.
 */
export function socketInodes(transport: 'tcp' | 'udp', port: number, procNet = '/proc/net'): Set<string> {
  const out = new Set<string>();
  for (const f of transport === 'tcp' ? ['tcp', 'tcp6'] : ['udp', 'udp6']) {
    let text: string;
    try {
      text = readFileSync(join(procNet, f), 'utf8');
    } catch {
      continue; // no IPv6, or not Linux
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10) continue;
      const localPort = parseInt(cols[1]!.slice(cols[1]!.lastIndexOf(':') + 1), 16);
      if (localPort !== port) continue;
      if (transport === 'tcp' && cols[3] !== '0A') continue; // 0A: LISTEN
      if (cols[9] !== '0') out.add(cols[9]!);
    }
  }
  return out;
}

/**
 * What `pid` has open, from /proc/<pid>/fd: the inodes of its sockets and the paths of its other
 * files. Undefined when this user may not look (another user's process, or one with more
 * capabilities, as with the BLE drop-in), or the process is gone.
 */
export function openFiles(pid: number, proc = '/proc'): { sockets: Set<string>; files: Set<string> } | undefined {
  const dir = join(proc, String(pid), 'fd');
  let fds: string[];
  try {
    fds = readdirSync(dir);
  } catch {
    return undefined;
  }
  const sockets = new Set<string>();
  const files = new Set<string>();
  for (const fd of fds) {
    let target: string;
    try {
      target = readlinkSync(join(dir, fd));
    } catch {
      continue; // closed meanwhile
    }
    const m = /^socket:\[(\d+)\]$/.exec(target);
    if (m) sockets.add(m[1]!);
    else files.add(target);
  }
  return { sockets, files };
}

/** Whether `pid` holds the socket bound to `port`: true, false, or undefined if it cannot tell. */
export function portHeldBy(pid: number, transport: 'tcp' | 'udp', port: number): boolean | undefined {
  const open = openFiles(pid);
  if (!open) return undefined;
  for (const inode of socketInodes(transport, port)) if (open.sockets.has(inode)) return true;
  return false;
}

/** Whether `pid` has the device `realPath` open: true, false, or undefined if it cannot tell. */
export function deviceHeldBy(pid: number, realPath: string): boolean | undefined {
  const open = openFiles(pid);
  if (!open) return undefined;
  return open.files.has(realPath);
}

// --- the sandbox ------------------------------------------------------------------------------

function under(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith('/') ? dir : `${dir}/`);
}

/** `path` with its existing part resolved through symlinks (systemd resolves both sides too). */
function realish(path: string): string {
  let p = resolve(path);
  const rest: string[] = [];
  for (;;) {
    try {
      return join(realpathSync(p), ...rest.reverse());
    } catch {
      const up = dirname(p);
      if (up === p) return resolve(path);
      rest.push(p.slice(up.length).replace(/^\//, ''));
      p = up;
    }
  }
}

/**
 * Whether the service may write `path`. ProtectSystem=strict makes everything read-only but
 * ReadWritePaths= (and StateDirectory=); full/yes protect /usr, /boot, /efi (and /etc).
 * ProtectHome hides /home, /root, /run/user. PrivateTmp gives the service its own /tmp and
 * /var/tmp, emptied whenever it stops.
 */
export function writableForService(path: string, s: ServiceInfo): { status: 'writable' | 'private-tmp' | 'read-only'; why?: string } {
  const candidates = [...new Set([resolve(path), realish(path)])];
  const rw = s.readWritePaths.flatMap((p) => [...new Set([p, realish(p)])]);
  if (candidates.some((c) => rw.some((r) => under(c, r)))) return { status: 'writable' };
  if (s.privateTmp && candidates.some((c) => under(c, '/tmp') || under(c, '/var/tmp'))) return { status: 'private-tmp' };
  const ro: Record<string, string[]> = { strict: ['/'], full: ['/usr', '/boot', '/efi', '/etc'], yes: ['/usr', '/boot', '/efi'], true: ['/usr', '/boot', '/efi'] };
  const hit = (ro[s.protectSystem] ?? []).find((r) => candidates.some((c) => under(c, r)));
  if (hit) return { status: 'read-only', why: `ProtectSystem=${s.protectSystem} makes ${hit === '/' ? 'everything' : hit} read-only for the service` };
  if (!['no', 'false', ''].includes(s.protectHome) && candidates.some((c) => ['/home', '/root', '/run/user'].some((h) => under(c, h)))) {
    return { status: 'read-only', why: `ProtectHome=${s.protectHome} hides /home, /root and /run/user from the service` };
  }
  return { status: 'writable' };
}

/** Names /proc/devices gives the character-device major `major` (ttyUSB, ttyACM, pts, ...). */
export function charDriverNames(major: number, procDevices: string): string[] {
  const out: string[] = [];
  let inChar = false;
  for (const line of procDevices.split('\n')) {
    if (/^Character devices:/.test(line)) inChar = true;
    else if (/^Block devices:/.test(line)) inChar = false;
    else if (inChar) {
      const m = /^\s*(\d+)\s+(\S+)/.exec(line);
      if (m && Number(m[1]) === major) out.push(m[2]!);
    }
  }
  return out;
}

/** Linux dev_t to major (glibc's gnu_dev_major). */
export function majorOf(rdev: number): number {
  return ((rdev / 256) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
}

function glob(pattern: string, name: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.').replace(/\[!/g, '[^')}$`);
  return re.test(name);
}

/**
 * Whether DevicePolicy/DeviceAllow let the service read and write the character device with
 * `rdev`, and by which rule. `statRdev` gives a path rule's device number.
 */
export function deviceRuleFor(rdev: number, s: ServiceInfo, procDevices: string, statRdev: (path: string) => number | undefined): { allowed: boolean; rule?: string; restricted: boolean } {
  const restricted = s.devicePolicy === 'closed' || s.devicePolicy === 'strict' || s.deviceAllow.length > 0;
  if (!restricted) return { allowed: true, restricted };
  const names = charDriverNames(majorOf(rdev), procDevices);
  for (const r of s.deviceAllow) {
    if (!(r.access.includes('r') && r.access.includes('w'))) continue;
    let match = false;
    if (r.spec.startsWith('char-')) match = names.some((n) => glob(r.spec.slice(5), n));
    else if (r.spec.startsWith('/')) match = statRdev(r.spec) === rdev;
    if (match) return { allowed: true, rule: `DeviceAllow=${r.spec} ${r.access}`, restricted };
  }
  return { allowed: false, restricted };
}
