import type { AdapterContext } from '../../../gateway/core/adapter.ts';
import type { ModemConfig } from '../config.ts';
import { RawDatagrams } from './raw.ts';
import { NbiotRuntime } from './runtime.ts';

/** One configured NB-IoT modem: its runtime and what its datagrams are for (nbiot.protocol). */
export class NbiotModem {
  private readonly runtime: NbiotRuntime;
  private readonly raw: RawDatagrams | undefined;

  constructor(cfg: ModemConfig, ctx: AdapterContext) {
    const raw = cfg.nbiot.protocol === 'raw' ? new RawDatagrams(cfg.name, ctx, () => this.runtime.stats.dropped.inc(), (d) => this.runtime.send(d)) : undefined;
    this.raw = raw;
    this.runtime = new NbiotRuntime(cfg, ctx, {
      datagram: (d) => raw?.datagram(d),
      up: () => {},
      down: () => {},
    });
  }

  async start(): Promise<void> {
    await this.raw?.start();
    this.runtime.start();
  }

  async stop(): Promise<void> {
    await this.raw?.stop();
    await this.runtime.stop();
  }
}
