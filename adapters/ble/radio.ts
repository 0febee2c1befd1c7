import { EventEmitter } from 'node:events';
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Noble, Peripheral, withBindings as WithBindings } from '@stoprocent/noble';

const require = createRequire(import.meta.url);

// How the adapter reaches the radio: a noble (@stoprocent/noble 2.x) instance. On Linux that is
// noble's HCI-socket bindings over @stoprocent/bluetooth-hci-socket, an N-API addon whose npm
// package carries prebuilt binaries for linux arm64/armv6/armv7/x64 (no compiler anywhere). It is
// loaded only when the BLE adapter (or `fieldgate ble scan`) runs, so a gateway without BLE never
// maps it. Tests and the simulator give noble a bindings object of their own instead.
//
// Each instance belongs to whoever made it, and `stop()` releases it: noble's stop() closes the HCI
// socket and ends its adapter poll, and everything noble remembered (one peripheral object per
// address heard) goes with the instance.

export type { Peripheral };

/** The part of noble's API the adapter uses. */
export interface NobleLike extends EventEmitter {
  readonly state: string;
  startScanning(serviceUuids: string[], allowDuplicates: boolean, callback: (error?: Error | null) => void): void;
  stopScanning(callback: () => void): void;
  /** Releases the radio (socket, timers) for good; the instance is not used again. */
  stop(): void;
}

/** Makes a new noble instance for a hci device number; the caller stops it. */
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
    addon: `the Bluetooth HCI addon (@stoprocent/bluetooth-hci-socket) does not load for ${process.platform}-${process.arch} Node.js ${process.versions.node}${detail ? ` (${detail})` : ''}: it ships prebuilt for linux arm64, armv6, armv7 and x64 only; see "Installing" in docs/ble.md`,
    no_kernel_support: `this system has no Bluetooth socket support (no /sys/class/bluetooth): load it with "sudo modprobe bluetooth"; under systemd, RestrictAddressFamilies must list AF_BLUETOOTH (the shipped unit does)`,
    no_adapter: `no Bluetooth adapter ${dev}${detail ? ` (${detail})` : ''}: check "ls /sys/class/bluetooth" and "rfkill list bluetooth" (unblock with "sudo rfkill unblock bluetooth"), or set adapters.ble.hci_device`,
    unauthorized: `no permission to use ${dev} over raw HCI: ${CAPS_FIX}`,
    // noble's HCI bindings report a socket they could not bind the same way as a controller without
    // LE ("unsupported"); the reason is only in their debug output.
    unsupported: `${dev} could not be opened or does not support Bluetooth Low Energy: with HCI_CHANNEL_USER set the adapter must be down and bluetoothd must not hold it (EBUSY: "sudo systemctl stop bluetooth"); otherwise it needs Bluetooth 4.0 or later (set adapters.ble.hci_device to another adapter); run with DEBUG=hci to see the socket error`,
    powered_off: `${dev} is powered off: "sudo rfkill unblock bluetooth" and "sudo hciconfig ${dev} up" (or "bluetoothctl power on")`,
    timeout: `${dev} did not come up (state "${detail}"): check "sudo btmgmt info" and "dmesg | grep -i blue"; a UART radio may still be loading its firmware`,
  };
  return new RadioUnavailable(`BLE radio unavailable: ${msg[code] ?? detail}`, code);
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

type NobleModule = Noble & { withBindings: typeof WithBindings };

/**
 * noble's module. Its main export is a default instance over the platform's bindings, created (not
 * started: no socket until first use) when the module loads; on Linux loading it also loads the
 * HCI addon, so a missing or foreign-architecture addon fails here.
 */
function nobleModule(hci: number): NobleModule {
  try {
    return require('@stoprocent/noble') as NobleModule;
  } catch (err) {
    throw radioProblem('addon', hci, String((err as Error).message).split('\n')[0]);
  }
}

/** Stops printing noble's warnings to the console: the adapter logs them (rate-limited). */
function quiet(noble: NobleLike): NobleLike {
  noble.removeAllListeners('warning');
  return noble;
}

/** The real radio: a new noble with its HCI-socket bindings for hciN. Throws RadioUnavailable. */
export const hciNoble: NobleFactory = (hci) => {
  // Checked before any socket is opened: noble's bindings would report a missing adapter only as
  // "unsupported" or "poweredOff", which cannot say what to do.
  if (hciPresent(hci) === false) {
    throw existsSync('/sys/class/bluetooth') ? radioProblem('no_adapter', hci) : radioProblem('no_kernel_support', hci);
  }
  return quiet(nobleModule(hci).withBindings('hci', { deviceId: hci }) as unknown as NobleLike);
};

/**
 * Noble over a bindings object of our own (the simulator, tests). noble 2.x declares the seam in its
 * typings, `class Noble { constructor(bindings) }`, but index.js exports only instances and
 * withBindings (which knows its built-in binding types only); the class is reached as the
 * constructor of its default instance.
 */
export function nobleWithBindings(bindings: EventEmitter): NobleLike {
  const NobleClass = nobleModule(0).constructor as typeof Noble;
  return quiet(new NobleClass(bindings) as unknown as NobleLike);
}

/**
 * Resolves once the radio is poweredOn; rejects with a RadioUnavailable naming the state and the
 * fix. Listening for stateChange starts noble's bindings (noble starts them on the first listener).
 */
export function poweredOn(noble: NobleLike, hci: number, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let last = 'unknown';
    const done = (err?: Error) => {
      clearTimeout(timer);
      noble.off('stateChange', onState);
      if (err) reject(err);
      else resolve();
    };
    const onState = (state: string) => {
      last = state;
      if (state === 'poweredOn') done();
      else if (state === 'unauthorized') done(radioProblem('unauthorized', hci));
      else if (state === 'unsupported') done(radioProblem('unsupported', hci));
    };
    const timer = setTimeout(() => done(radioProblem(last === 'poweredOff' ? 'powered_off' : 'timeout', hci, last)), timeoutMs);
    noble.on('stateChange', onState);
    // A noble whose bindings already run reports no new state: read the current one (reading it
    // starts the bindings too, which the listener above has already done).
    queueMicrotask(() => {
      if (noble.state !== 'unknown') onState(noble.state);
    });
  });
}

/** Releases a noble instance: its socket, timers and every peripheral it remembered. */
export function releaseNoble(noble: NobleLike): void {
  try {
    noble.stop();
  } catch {
    // Bindings that never started hold nothing (noble's HCI stop() assumes they started).
  }
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
