import { readFileSync, realpathSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { configuredDevices } from './serial.ts';
import { charDriverNames, deviceRuleFor, majorOf, writableForService, type ServiceInfo } from './service.ts';
import type { Check, Finding } from './types.ts';

// Doctor runs outside the unit's sandbox, so its own "writable" and "opens" answers can be wrong
// for the service: with ProtectSystem=strict only ReadWritePaths= are writable, and with
// DevicePolicy=closed only the DeviceAllow= majors open. When the unit is installed, compare the
// config against the unit's settings (systemctl show, or the unit files without systemd).

const EDIT = 'sudo systemctl edit fieldgate';

function source(s: ServiceInfo): string {
  return s.source === 'systemctl' ? 'systemctl show fieldgate' : (s.unitFile ?? 'the installed unit');
}

function dirFinding(path: string, what: string, key: string, s: ServiceInfo): Finding {
  const w = writableForService(path, s);
  const rw = s.readWritePaths.length ? s.readWritePaths.join(' ') : 'none';
  switch (w.status) {
    case 'writable':
      return { check: 'sandbox', status: 'ok', message: `${what} ${path} is writable for the service (ReadWritePaths=${rw}; from ${source(s)})` };
    case 'private-tmp':
      return {
        check: 'sandbox', status: 'warn',
        message: `${what} ${path} is under /tmp, which the service sees as its own private /tmp (PrivateTmp=yes): not this directory, and emptied whenever the service stops`,
        fix: `move ${key} to /var/lib/fieldgate (or a directory added with ${EDIT}: [Service] ReadWritePaths=...)`,
      };
    default:
      return {
        check: 'sandbox', status: 'warn',
        message: `${what} ${path} is outside the unit's ReadWritePaths (${rw}): ${w.why}, so the service cannot write there although this check can`,
        fix: `${EDIT}, add "[Service]" and "ReadWritePaths=${path}", then sudo systemctl restart fieldgate (and chown it to fieldgate); or move ${key} under /var/lib/fieldgate`,
      };
  }
}

function deviceFinding(path: string, where: string, s: ServiceInfo, procDevices: string): Finding | undefined {
  let real: string, rdev: number;
  try {
    real = realpathSync(path);
    const st = statSync(real);
    if (!st.isCharacterDevice()) return undefined; // the serial check reports it
    rdev = st.rdev;
  } catch {
    return undefined; // missing: the serial check reports it
  }
  const statRdev = (p: string) => {
    try {
      const st = statSync(p);
      return st.isCharacterDevice() ? st.rdev : undefined;
    } catch {
      return undefined;
    }
  };
  const r = deviceRuleFor(rdev, s, procDevices, statRdev);
  if (!r.restricted) return undefined;
  const major = majorOf(rdev);
  const names = charDriverNames(major, procDevices);
  const named = `${path} (${where})${real === path ? '' : ` -> ${real}`}, character major ${major}${names.length ? ` (${names.join(', ')})` : ''}`;
  if (r.allowed) return { check: 'sandbox', status: 'ok', message: `${named} is allowed by the unit's ${r.rule}` };
  const rules = s.deviceAllow.map((d) => `${d.spec} ${d.access}`).join(', ') || 'none';
  return {
    check: 'sandbox', status: 'warn',
    message: `${named} is not in the unit's DeviceAllow (${rules}; DevicePolicy=${s.devicePolicy}): the service gets "Operation not permitted" opening it although this check can`,
    fix: `${EDIT}, add "[Service]" and "DeviceAllow=${names[0] ? `char-${names[0]}` : real} rw", then sudo systemctl restart fieldgate`,
  };
}

export const sandbox: Check = async (ctx) => {
  const s = ctx.service;
  if (!s || !ctx.config) return [];
  const out: Finding[] = [dirFinding(resolve(ctx.config.gateway.data_dir), 'data directory', 'gateway.data_dir', s)];
  const bridge = (ctx.config as { bridge?: { queue?: { dir?: string; storage?: string }; upstreams?: unknown[] } }).bridge;
  if (bridge?.queue?.dir && (bridge.upstreams?.length ?? 0) > 0 && bridge.queue.storage !== 'memory') {
    out.push(dirFinding(resolve(bridge.queue.dir), 'bridge log directory', 'bridge.queue.dir', s));
  }
  let procDevices = '';
  try {
    procDevices = readFileSync('/proc/devices', 'utf8');
  } catch {
    // not Linux
  }
  const devices = [...configuredDevices(ctx.config.adapters), ...ctx.devices.map((path) => ({ path, where: '--device' }))];
  for (const d of devices) {
    const f = deviceFinding(d.path, d.where, s, procDevices);
    if (f) out.push(f);
  }
  return out;
};
