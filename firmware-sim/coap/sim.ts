// Simulated CoAP sensors: N devices, each with its own UDP source port (and, against a loopback
// gateway, its own source address: 127.0.0.2, .3, ... as real devices are separate hosts), publishing JSON readings
// at a fixed rate to /ps/sensors/{id}/telemetry and (optionally) observing /ps/devices/{id}/cmd for
// downlinks. Used by `npm run sim -- coap`, by tests and by the benchmarks.
import { CoapClient, type CoapResponse } from './client.ts';

export interface CoapSimOptions {
  host: string;
  port: number;
  devices: number;
  /** Messages per second, per device. */
  rate: number;
  /** Stop each device after this many messages (default: run until stop()). */
  count?: number;
  /** CON (default) or NON requests; with the default publish_qos, CON maps to QoS 1 and NON to QoS 0. */
  confirmable?: boolean;
  /** Observe each device's downlink topic. */
  observe?: boolean;
  prefix?: string;
  username?: string;
  password?: string;
  onDownlink?(id: string, payload: Buffer): void;
  /**
   * The source address of device i (0-based). Default: against a loopback gateway, 127.x.y.z
   * from 127.0.0.2 upwards (all of 127/8 is loopback on Linux), so each device is its own host
   * to the gateway's per-address rate limit and registry; elsewhere, the system's choice.
   */
  sourceAddress?: (i: number) => string | undefined;
}

/** Whether `host` is a loopback address, where every 127.x.y.z is ours to send from (Linux). */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** 127.0.0.2, 127.0.0.3, ... 127.0.0.254, 127.0.1.1, ...: device i's own loopback address. */
export function loopbackAddress(i: number): string {
  const idx = i + 1; // 127.0.0.1 is the gateway's own; devices start at .2
  const rest = Math.floor(idx / 254);
  return `127.${(rest >> 8) & 0xff}.${rest & 0xff}.${(idx % 254) + 1}`;
}

/** "4.29 x812, timeout x3": what the failures were, by response code. */
export function failureSummary(codes: Record<string, number>): string {
  return Object.entries(codes)
    .filter(([c]) => c !== '2.04')
    .sort((a, b) => b[1] - a[1])
    .map(([c, n]) => `${c} x${n}`)
    .join(', ');
}

export interface SimStats {
  devices: number;
  sent: number;
  ok: number;
  failed: number;
  codes: Record<string, number>;
  downlinks: number;
  latency_ms: { p50: number; p99: number; max: number };
}

interface Device {
  id: string;
  client: CoapClient;
  seq: number;
  timer?: NodeJS.Timeout;
  obsToken?: Buffer;
}

export class CoapSensorSim {
  private readonly list: Device[] = [];
  private readonly latencies: number[] = [];
  private readonly inflight = new Set<Promise<unknown>>();
  private stopped = false;
  readonly stats: SimStats;
  /** Resolves when every device has sent `count` messages (never, without `count`). */
  readonly done: Promise<void>;
  private finish!: () => void;

  constructor(private readonly o: CoapSimOptions) {
    this.stats = { devices: o.devices, sent: 0, ok: 0, failed: 0, codes: {}, downlinks: 0, latency_ms: { p50: 0, p99: 0, max: 0 } };
    this.done = new Promise((r) => (this.finish = r));
  }

  private query(id: string): Record<string, string | undefined> {
    return { c: id, u: this.o.username, p: this.o.password };
  }

  async start(): Promise<void> {
    const prefix = this.o.prefix ?? 'sensor';
    const source = this.o.sourceAddress ?? ((i: number) => (isLoopback(this.o.host) && !this.o.host.includes(':') ? loopbackAddress(i) : undefined));
    for (let i = 0; i < this.o.devices; i++) {
      const d: Device = { id: `${prefix}-${i + 1}`, client: await CoapClient.open(this.o.host === 'localhost' ? '127.0.0.1' : this.o.host, this.o.port, source(i)), seq: 0 };
      this.list.push(d);
      if (this.o.observe) await this.observe(d);
    }
    const period = 1000 / this.o.rate;
    let finished = 0;
    for (const d of this.list) {
      // Spread the devices over one period so they do not all send in the same millisecond.
      const tick = () => {
        if (this.stopped) return;
        if (this.o.count !== undefined && d.seq >= this.o.count) {
          if (++finished === this.list.length) void Promise.all(this.inflight).then(() => this.finish());
          return;
        }
        this.publish(d);
        d.timer = setTimeout(tick, period);
      };
      d.timer = setTimeout(tick, Math.random() * period);
    }
  }

  private async observe(d: Device): Promise<void> {
    d.obsToken = d.client.nextToken();
    d.client.on('notification', (n: CoapResponse) => {
      this.stats.downlinks++;
      this.o.onDownlink?.(d.id, n.payload);
    });
    const r = await d.client.request({ method: 'GET', path: `/ps/devices/${d.id}/cmd`, query: this.query(d.id), observe: 0, token: d.obsToken });
    if (r.code !== '2.05') throw new Error(`device ${d.id} could not observe its downlink topic: ${r.code} ${r.payload.toString()}`);
  }

  private publish(d: Device): void {
    const seq = ++d.seq;
    const reading = { id: d.id, seq, temperature: +(20 + 5 * Math.sin(seq / 10) + Math.random()).toFixed(2), humidity: +(40 + Math.random() * 20).toFixed(1), battery: +(3.3 - seq * 0.0001).toFixed(3), ts: Date.now() };
    const t0 = performance.now();
    this.stats.sent++;
    const p = d.client
      .request({ method: 'POST', path: `/ps/sensors/${d.id}/telemetry`, query: this.query(d.id), payload: JSON.stringify(reading), confirmable: this.o.confirmable ?? true, timeoutMs: 30_000 })
      .then(
        (r) => {
          this.stats.codes[r.code] = (this.stats.codes[r.code] ?? 0) + 1;
          if (r.code === '2.04') this.stats.ok++;
          else this.stats.failed++;
          if (this.latencies.length < 100_000) this.latencies.push(performance.now() - t0);
        },
        () => {
          this.stats.failed++;
          this.stats.codes.timeout = (this.stats.codes.timeout ?? 0) + 1;
        },
      );
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
  }

  /** Current statistics, with latency percentiles. */
  snapshot(): SimStats {
    const s = [...this.latencies].sort((a, b) => a - b);
    const at = (q: number) => (s.length ? +s[Math.min(s.length - 1, Math.floor(q * s.length))]!.toFixed(2) : 0);
    this.stats.latency_ms = { p50: at(0.5), p99: at(0.99), max: s.length ? +s[s.length - 1]!.toFixed(2) : 0 };
    return { ...this.stats, codes: { ...this.stats.codes } };
  }

  /** Stops sending, cancels observations (GET Observe=1) and closes every socket. */
  async stop(): Promise<SimStats> {
    this.stopped = true;
    for (const d of this.list) clearTimeout(d.timer);
    await Promise.allSettled(
      this.list.filter((d) => d.obsToken).map((d) => d.client.request({ method: 'GET', path: `/ps/devices/${d.id}/cmd`, query: this.query(d.id), observe: 1, timeoutMs: 2000 })),
    );
    await Promise.race([Promise.allSettled(this.inflight), new Promise((r) => setTimeout(r, 2000))]);
    for (const d of this.list) d.client.close();
    this.finish();
    return this.snapshot();
  }
}
