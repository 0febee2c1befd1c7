// Many simulated LwM2M devices: register (from many loopback addresses against a loopback gateway,
// so per-address limits see many hosts), keep their registration alive with Updates, and change
// their temperature on a period, which notifies whoever observes it.
import { SimDevice } from './device.ts';

export interface FleetOptions {
  host: string;
  port: number;
  devices: number;
  prefix: string;
  lifetime: number;
  binding: string;
  /** Seconds between temperature changes (0 = never). */
  interval: number;
  query?: Record<string, string>;
  /** Registrations started at once. */
  concurrency?: number;
}

export const isLoopback = (host: string): boolean => host === 'localhost' || host.startsWith('127.') || host === '::1';

export class Fleet {
  readonly devices: SimDevice[] = [];
  private timers: NodeJS.Timeout[] = [];
  changes = 0;

  constructor(private readonly o: FleetOptions) {}

  async start(onError: (ep: string, err: Error) => void = () => {}): Promise<number> {
    const { o } = this;
    const loop = isLoopback(o.host) && !o.host.includes(':');
    for (let i = 0; i < o.devices; i++) {
      const localAddress = loop ? `127.0.${1 + Math.floor(i / 250)}.${2 + (i % 250)}` : undefined;
      this.devices.push(await SimDevice.create({ host: o.host, port: o.port, ep: `${o.prefix}-${i + 1}`, lifetime: o.lifetime, binding: o.binding, query: o.query, localAddress }));
    }
    let ok = 0;
    const queue = [...this.devices];
    const worker = async () => {
      for (let d = queue.shift(); d; d = queue.shift()) {
        try {
          await d.register();
          ok++;
        } catch (err) {
          onError(d.opts.ep, err as Error);
        }
      }
    };
    await Promise.all(Array.from({ length: o.concurrency ?? 50 }, worker));
    for (const [i, d] of this.devices.entries()) {
      const upd = setInterval(() => void d.update().catch((err: Error) => onError(d.opts.ep, err)), (o.lifetime * 1000) / 2);
      this.timers.push(upd);
      if (o.interval > 0) {
        // Spread the changes over the period so the fleet does not notify in lockstep.
        const first = setTimeout(() => {
          this.change(d);
          this.timers.push(setInterval(() => this.change(d), o.interval * 1000));
        }, ((i % 1000) / 1000) * o.interval * 1000);
        this.timers.push(first);
      }
    }
    return ok;
  }

  private change(d: SimDevice): void {
    d.set('/3303/0/5700', Math.round((18 + Math.random() * 8) * 100) / 100);
    this.changes++;
  }

  async stop(deregister = true): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    if (deregister) await Promise.all(this.devices.filter((d) => d.location).map((d) => d.deregister().catch(() => undefined)));
    for (const d of this.devices) d.close();
  }
}
