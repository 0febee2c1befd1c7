import type { GatewayConfig } from '../app/config.ts';
import type { ServiceInfo } from './service.ts';

/** ok: fine. warn: degraded but the gateway runs. fail: the gateway or a configured device cannot work. */
export type Status = 'ok' | 'warn' | 'fail';

/** One line of `fieldgate doctor`: which check, what it found, and what to do about it. */
export interface Finding {
  check: string;
  status: Status;
  message: string;
  fix?: string;
}

export interface DoctorContext {
  /** The config file checked, or undefined for the embedded defaults. */
  file?: string;
  /** The validated config; undefined when it is invalid (checks that need it are skipped). */
  config?: GatewayConfig;
  /** Serial devices to check besides those named in the config (--device). */
  devices: string[];
  /** Network checks give up after this. */
  timeoutMs: number;
  /**
   * The installed fieldgate systemd unit (running or not, its main PID, its sandbox), or
   * undefined when it is not installed: a port or device held by the running service is fine.
   */
  service?: ServiceInfo;
  /**
   * The fieldgate running on this config's data directory, if any: the service's main process, or
   * any `fieldgate start` (npm start on a development machine) holding the data-directory lock.
   * Ports and devices it holds are its own, not conflicts.
   */
  running?: { pid: number; what: string };
}

export type Check = (ctx: DoctorContext) => Promise<Finding[]>;
