import type { BleConfig } from './config.ts';
import type { DecodeResult } from './decoders/index.ts';

/** Which devices may be published: listed addresses (allow.addresses and devices), or allowed decoded formats. */
export class Allowlist {
  private readonly addresses: Set<string>;
  private readonly formats: Set<string>;

  constructor(cfg: Pick<BleConfig, 'allow' | 'devices'>) {
    this.addresses = new Set([...cfg.allow.addresses, ...cfg.devices.keys()]);
    this.formats = new Set(cfg.allow.formats);
  }

  /** Allowed by its address (allow.addresses or devices), not only by format. */
  listed(address: string): boolean {
    return this.addresses.has(address);
  }

  allows(address: string, r: DecodeResult): boolean {
    if (this.addresses.has(address)) return true;
    return r?.ok === true && (this.formats.has('*') || this.formats.has(r.format));
  }
}
