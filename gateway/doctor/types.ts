import type { GatewayConfig } from '../app/config.ts';

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
}

export type Check = (ctx: DoctorContext) => Promise<Finding[]>;
