import type { AdapterContext } from '../../../gateway/core/adapter.ts';
import { datagramService } from '../../../gateway/core/datagram.ts';
import type { ModemConfig } from '../config.ts';
import type { Datagram } from './driver.ts';
import { RawDatagrams } from './raw.ts';
import { NbiotRuntime } from './runtime.ts';
import { ModemTransport } from './transport.ts';
import { Throttle } from '../throttle.ts';

/**
 * One configured NB-IoT modem: its runtime and what its datagrams are for (nbiot.protocol). raw:
 * published here. coap / lwm2m: the socket is provided as the service datagram/<name> while it is
 * open, and that adapter's engine serves it (this adapter never imports it).
 */
export class NbiotModem {
  private readonly runtime: NbiotRuntime;
  private readonly raw: RawDatagrams | undefined;
  private transport: ModemTransport | undefined;
  private readonly limited: Throttle;

  constructor(private readonly cfg: ModemConfig, private readonly ctx: AdapterContext) {
    this.limited = new Throttle((f, m) => ctx.log.warn(f, m));
    const raw = cfg.nbiot.protocol === 'raw' ? new RawDatagrams(cfg.name, ctx, () => this.runtime.stats.dropped.inc(), (d) => this.runtime.send(d)) : undefined;
    this.raw = raw;
    this.runtime = new NbiotRuntime(cfg, ctx, {
      datagram: (d) => (raw ? raw.datagram(d) : this.toTransport(d)),
      up: () => this.provide(),
      down: (why) => this.withdraw(why),
    });
  }

  async start(): Promise<void> {
    await this.raw?.start();
    this.runtime.start();
  }

  async stop(): Promise<void> {
    await this.raw?.stop();
    await this.runtime.stop();
    this.withdraw('adapter stopping');
    this.limited.clear();
  }

  private provide(): void {
    if (this.raw) return;
    const t = new ModemTransport(this.cfg.name, this.cfg.nbiot.protocol, this.runtime.maxDatagram, (d) => this.runtime.send(d));
    this.transport = t;
    this.ctx.services.provide(datagramService(this.cfg.name), t);
  }

  private withdraw(why: string): void {
    const t = this.transport;
    if (!t) return;
    this.transport = undefined;
    this.ctx.services.withdraw(datagramService(this.cfg.name));
    void t.close(why);
  }

  private toTransport(d: Datagram): void {
    const t = this.transport;
    if (t && t.consumers > 0) return t.deliver(d);
    this.runtime.stats.dropped.inc();
    const adapter = this.cfg.nbiot.protocol;
    this.limited.warn('no-consumer', { modem: this.cfg.name, from: `${d.address}:${d.port}` }, `modem ${this.cfg.name}: datagram from ${d.address}:${d.port} dropped: no ${adapter} engine serves this modem (is adapters.${adapter}.enabled true?)`);
  }
}
