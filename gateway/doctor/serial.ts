import { accessSync, constants, readFileSync, realpathSync, statSync } from 'node:fs';
import { deviceHeldBy } from './service.ts';
import type { Check, DoctorContext, Finding } from './types.ts';

/** Every `/dev/...` string and modem `path` in the enabled adapters' config sections: the serial devices they will open. */
export function configuredDevices(adapters: unknown): { path: string; where: string }[] {
  const out: { path: string; where: string }[] = [];
  const walk = (node: unknown, where: string) => {
    // A modem's `path` is a serial port wherever it lives (a pty symlink such as the simulators'
    // /tmp/fieldgate-nb0, a udev name); elsewhere only /dev paths are taken for serial devices.
    const modemPath = /^adapters\.modem\.modems\[\d+\]\.path$/.test(where);
    if (typeof node === 'string' && (node.startsWith('/dev/') || modemPath)) out.push({ path: node, where });
    else if (Array.isArray(node)) node.forEach((v, i) => walk(v, `${where}[${i}]`));
    else if (node && typeof node === 'object') {
      if ((node as { enabled?: unknown }).enabled === false) return;
      for (const [k, v] of Object.entries(node)) walk(v, `${where}.${k}`);
    }
  };
  for (const [name, section] of Object.entries((adapters ?? {}) as Record<string, unknown>)) walk(section, `adapters.${name}`);
  return out;
}

type SerialPortCtor = new (opts: { path: string; baudRate: number; autoOpen: boolean }) => {
  open(cb: (err: Error | null) => void): void;
  close(cb: (err: Error | null) => void): void;
};

/** Loads serialport and its prebuilt native addon; returns the addon file this process mapped. */
async function loadSerialport(): Promise<{ SerialPort?: SerialPortCtor; addon?: string; error?: string }> {
  try {
    const mod = (await import('serialport')) as unknown as { SerialPort: SerialPortCtor };
    // The path node-gyp-build picked is whatever this process has mapped: the truth, bundle or not.
    let addon: string | undefined;
    try {
      addon = readFileSync('/proc/self/maps', 'utf8').split('\n').map((l) => l.slice(l.indexOf('/'))).find((p) => /bindings-cpp.*\.node$/.test(p));
    } catch {
      // not Linux: no /proc
    }
    return { SerialPort: mod.SerialPort, addon };
  } catch (err) {
    return { error: (err as Error).message.split('\n')[0] };
  }
}

function openWith(SerialPort: SerialPortCtor, path: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const port = new SerialPort({ path, baudRate: 9600, autoOpen: false });
    port.open((err) => {
      if (err) return resolve(err.message);
      port.close(() => resolve(undefined));
    });
  });
}

async function device(path: string, where: string, SerialPort: SerialPortCtor | undefined, ctx: DoctorContext): Promise<Finding> {
  const named = `${path} (${where})`;
  let real = path;
  try {
    real = realpathSync(path);
    const st = statSync(real);
    if (!st.isCharacterDevice()) return { check: 'serial', status: 'fail', message: `${named} is not a character device`, fix: `point ${where} at the modem's tty (ls -l /dev/serial/by-id/)` };
  } catch {
    return {
      check: 'serial', status: 'fail', message: `${named} does not exist`,
      fix: path.startsWith('/dev/fieldgate-')
        ? `plug the modem in and check the udev rule matches it (udevadm info -q property -n /dev/ttyUSB0 | grep ID_; /etc/udev/rules.d/99-fieldgate.rules)`
        : `plug the device in, or set ${where} to a path listed by "ls -l /dev/serial/by-id/"; for the Pi's UART enable it in raspi-config`,
    };
  }
  const via = real === path ? '' : ` -> ${real}`;
  // The running service holds its modems open (and locked): that is the healthy state. Checked
  // before opening, so doctor never touches a line the gateway is using.
  const pid = ctx.running?.pid;
  const held = pid ? deviceHeldBy(pid, real) : false;
  if (held === true) return { check: 'serial', status: 'ok', message: `${named}${via} is held by the running fieldgate (PID ${pid}) (ok)` };
  try {
    accessSync(real, constants.R_OK | constants.W_OK);
  } catch {
    return { check: 'serial', status: 'fail', message: `${named}${via}: permission denied for this user`, fix: 'sudo usermod -aG dialout fieldgate (the installer does this), then restart the service; a udev rule can also set GROUP="dialout"' };
  }
  if (!SerialPort) return { check: 'serial', status: 'fail', message: `${named}${via} exists but cannot be opened: the serialport addon did not load`, fix: 'see the serial-addon line' };
  const err = await openWith(SerialPort, path);
  if (err) {
    const busy = /lock|busy|temporarily unavailable/i.test(err);
    if (busy && held === undefined) {
      return {
        check: 'serial', status: 'warn',
        message: `${named}${via} is in use while fieldgate runs (PID ${pid}), probably by it; this user may not read /proc/${pid}/fd to be sure`,
        fix: `sudo fuser -v ${real} names the holder`,
      };
    }
    return {
      check: 'serial', status: 'fail', message: `${named}${via}: cannot open (${err})`,
      fix: busy
        ? 'another process holds it: find it with "fuser -v ' + real + '" (ModemManager: sudo systemctl disable --now ModemManager; the Pi serial console: raspi-config > Interface > Serial, login shell off)'
        : 'check the device and its driver (dmesg | tail)',
    };
  }
  return { check: 'serial', status: 'ok', message: `${named}${via} opens` };
}

export const serial: Check = async (ctx: DoctorContext) => {
  const devices = [...configuredDevices(ctx.config?.adapters), ...ctx.devices.map((path) => ({ path, where: '--device' }))];
  const loaded = await loadSerialport();
  const out: Finding[] = [];
  if (loaded.error) {
    out.push({
      check: 'serial-addon', status: devices.length ? 'fail' : 'warn',
      message: `the serialport native addon did not load for ${process.platform}-${process.arch}: ${loaded.error}`,
      fix: 'use the release tarball built for this architecture (uname -m: aarch64 = linux-arm64, armv7l = linux-arm); it ships the prebuilt addon in lib/native',
    });
  } else {
    out.push({ check: 'serial-addon', status: 'ok', message: `serialport addon loaded for ${process.platform}-${process.arch}${loaded.addon ? ` (${loaded.addon})` : ''}` });
  }
  if (devices.length === 0) out.push({ check: 'serial', status: 'ok', message: 'no serial devices configured' });
  for (const d of devices) out.push(await device(d.path, d.where, loaded.SerialPort, ctx));
  return out;
};
