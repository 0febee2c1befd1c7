import { EventEmitter } from 'node:events';
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Peripheral } from '@abandonware/noble';

const require = createRequire(import.meta.url);

// How the adapter reaches the radio: a noble instance. On Linux that is noble's HCI-socket bindings
// over the native addon @abandonware/bluetooth-hci-socket, loaded only when the BLE adapter (or
// `fieldgate ble scan`) runs, so a gateway without BLE never maps it. Tests and the simulator
// give noble their own bindings object instead (noble's with-bindings entry point).

export type { Peripheral };

/** The part of noble's API the adapter uses. */
export interface NobleLike extends EventEmitter {
  readonly state: string;
  startScanning(serviceUuids: string[], allowDuplicates: boolean, callback: (error?: Error | null) => void): void;
  stopScanning(callback?: () => void): void;
}

/** Makes (or returns) the noble instance for a hci device number. */
export type NobleFactory = (hciDevice: number) => NobleLike;

/** The radio cannot be used; `message` says why and what to do, in one line. */
export class RadioUnavailable extends Error {
  constructor(message: string, readonly code: string) {
    super(message);
    this.name = 'RadioUnavailable';
  }
}

export const CAPS_FIX =
  'grant CAP_NET_RAW and CAP_NET_ADMIN: for the service run "sudo ./install.sh --ble" (adds fieldgate.service.d/ble.conf) then "sudo systemctl restart fieldgate"; for a manual run "sudo setcap cap_net_raw,cap_net_admin+eip $(readlink -f $(command -v node))"';

/** The one line for each way the radio can be missing. */
export function radioProblem(code: string, hci: number, detail = ''): RadioUnavailable {
  const dev = `hci${hci}`;
  const msg: Record<string, string> = {
    addon: `the Bluetooth HCI addon (@abandonware/bluetooth-hci-socket) is not installed for ${process.platform}-${process.arch} Node.js ${process.versions.node}${detail ? ` (${detail})` : ''}: see "Installing the HCI addon" in docs/ble.md`,
    no_kernel_support: `this system has no Bluetooth socket support (EAFNOSUPPORT): load it with "sudo modprobe bluetooth"; under systemd, RestrictAddressFamilies must list AF_BLUETOOTH (the shipped unit does)`,
    no_adapter: `no Bluetooth adapter ${dev}${detail ? ` (${detail})` : ''}: check "ls /sys/class/bluetooth" and "rfkill list bluetooth" (unblock with "sudo rfkill unblock bluetooth"), or set adapters.ble.hci_device`,
    unauthorized: `no permission to use ${dev} over raw HCI: ${CAPS_FIX}`,
    unsupported: `${dev} does not support Bluetooth Low Energy (needs Bluetooth 4.0 or later): set adapters.ble.hci_device to another adapter`,
    powered_off: `${dev} is powered off: "sudo rfkill unblock bluetooth" and "sudo hciconfig ${dev} up" (or "bluetoothctl power on")`,
    busy: `${dev} is held exclusively by another program (EBUSY): with HCI_CHANNEL_USER set, bluetoothd must not use it ("sudo systemctl stop bluetooth"), or unset HCI_CHANNEL_USER to share it`,
    timeout: `${dev} did not come up (state "${detail}"): check "sudo btmgmt info" and "dmesg | grep -i blue"; a UART radio may still be loading its firmware`,
  };
  return new RadioUnavailable(`BLE radio unavailable: ${msg[code] ?? detail}`, code);
}

function classifyError(err: unknown, hci: number): RadioUnavailable {
  const e = err as NodeJS.ErrnoException;
  const text = String(e?.message ?? err);
  if (e?.code === 'MODULE_NOT_FOUND' || /bluetooth_hci_socket|bluetooth-hci-socket|\.node/.test(text)) return radioProblem('addon', hci, text.split('\n')[0]);
  if (/EAFNOSUPPORT/.test(text)) return radioProblem('no_kernel_support', hci);
  if (/EPERM|EACCES/.test(text)) return radioProblem('unauthorized', hci);
  if (/EBUSY/.test(text)) return radioProblem('busy', hci);
  if (/ENODEV|No such device/.test(text)) return radioProblem('no_adapter', hci, text);
  return new RadioUnavailable(`BLE radio unavailable: ${text}`, 'other');
}

/** Whether the kernel lists hciN (Linux); undefined when /sys cannot tell. */
export function hciPresent(hci: number): boolean | undefined {
  if (!existsSync('/sys/class/bluetooth')) return process.platform === 'linux' ? false : undefined;
  try {
    return readdirSync('/sys/class/bluetooth').includes(`hci${hci}`);
  } catch {
    return undefined;
  }
}

// noble's HCI bindings cannot be disposed (they poll the adapter every second and hold the
// socket), so one instance per hci device lives as long as the process; adapter restarts reuse it.
const shared = new Map<number, NobleLike>();

/** The real radio: noble with its HCI-socket bindings for hciN. Throws RadioUnavailable. */
export const hciNoble: NobleFactory = (hci) => {
  const existing = shared.get(hci);
  if (existing) return existing;
  // Checked before any socket is opened: noble cannot retry a failed bind, and each attempt
  // would leave its socket behind.
  if (hciPresent(hci) === false) throw radioProblem('no_adapter', hci, existsSync('/sys/class/bluetooth') ? '' : 'no /sys/class/bluetooth: no Bluetooth driver loaded');
  let noble: NobleLike;
  try {
    const make = require('@abandonware/noble/with-custom-binding') as (opts: { deviceId: number }) => NobleLike;
    noble = make({ deviceId: hci });
  } catch (err) {
    throw classifyError(err, hci);
  }
  shared.set(hci, noble);
  return noble;
};

/** Noble over a bindings object of our own (the simulator, tests): noble's public with-bindings seam. */
export function nobleWithBindings(bindings: EventEmitter): NobleLike {
  const withBindings = require('@abandonware/noble/with-bindings') as (b: EventEmitter) => NobleLike;
  return withBindings(bindings);
}

const initialized = new WeakSet<NobleLike>();

/**
 * Resolves once the radio is poweredOn; rejects with a RadioUnavailable naming the state and the
 * fix. The first call on an instance starts noble's bindings (they start on the first
 * stateChange listener); an init failure arrives as a noble 'warning'.
 */
export function poweredOn(noble: NobleLike, hci: number, timeoutMs: number, forget: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let last = 'unknown';
    const done = (err?: Error) => {
      clearTimeout(timer);
      noble.off('stateChange', onState);
      noble.off('warning', onWarning);
      if (err) reject(err);
      else resolve();
    };
    const onState = (state: string) => {
      last = state;
      if (state === 'poweredOn') done();
      else if (state === 'unauthorized') done(radioProblem('unauthorized', hci));
      else if (state === 'unsupported') done(radioProblem('unsupported', hci));
    };
    const onWarning = (message: string) => {
      if (!/Initialization/.test(message)) return;
      // The bindings are dead after a failed init: the next attempt needs a new instance.
      forget();
      done(classifyError(new Error(message), hci));
    };
    const timer = setTimeout(() => done(radioProblem(last === 'poweredOff' ? 'powered_off' : 'timeout', hci, last)), timeoutMs);
    noble.on('warning', onWarning);
    const first = !initialized.has(noble);
    initialized.add(noble);
    noble.on('stateChange', onState);
    if (!first) onState(noble.state);
  });
}

export function forgetHciNoble(hci: number): void {
  shared.delete(hci);
}

let sigintGuarded = false;

/**
 * noble's HCI bindings add a SIGINT listener that calls process.exit(1) when it is the last one
 * registered, which it is (it registers when the radio starts, after the CLI's own handler): Ctrl-C
 * would skip the gateway's clean shutdown. A later no-op listener keeps noble's from being last;
 * the CLI's handler still runs and stops the gateway.
 */
export function guardSigint(): void {
  if (sigintGuarded) return;
  sigintGuarded = true;
  process.on('SIGINT', () => {});
}
