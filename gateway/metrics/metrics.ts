import { Counter as PromCounter, Gauge as PromGauge, Histogram as PromHistogram, Registry } from 'prom-client';
import { HELP } from './help.ts';
import { familyName, labelsOf, sysName, type Kind, type Labels } from './sys-names.ts';

// The gateway's metrics are prom-client metrics in one Registry per Gateway (several gateways run
// in one test process, so never prom-client's global registry). This facade keeps the call shapes
// the code base uses (`counter(name)`, `gaugeFn(name, fn)`, `scoped(prefix)`) and adds labels:
// a name is a template whose `{label}` levels are labels (sys-names.ts), e.g.
// `metrics.scoped('adapters/{adapter}', { adapter: 'coap' }).counter('messages/received')`.
// Counters and gauges keep their value in a plain number and hand it to their prom-client metric
// in its collect(), which prom-client runs before every read of the registry (/metrics, `$SYS`):
// an increment on the message path is then an addition (about 10 ns, against 0.1-0.7 us for
// prom-client's labelled inc), and the few synchronous readers (the status page summary, tests
// polling with `until`) have `snapshot()`.

export type { Labels } from './sys-names.ts';

export interface Counter {
  inc(by?: number): void;
  readonly value: number;
}

export interface Gauge {
  set(v: number): void;
  inc(by?: number): void;
  dec(by?: number): void;
  readonly value: number;
}

export interface Histogram {
  /** One observation in the histogram's base unit (seconds for durations). */
  observe(v: number): void;
}

/** Default buckets for short durations in seconds: 0.1 ms to 10 s. */
export const DURATION_BUCKETS = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];

type AnyProm = PromCounter<string> | PromGauge<string> | PromHistogram<string>;

class CounterCell implements Counter {
  value = 0;
  /** How much of `value` the prom-client counter has been given. */
  pushed = 0;
  constructor(readonly labels: Labels) {}
  inc(by = 1): void {
    if (!(by >= 0) || by === Infinity) throw new Error(`a counter only goes up (inc(${by}))`);
    this.value += by;
  }
}

class GaugeCell implements Gauge {
  value = 0;
  constructor(readonly labels: Labels) {}
  set(v: number): void {
    this.value = v;
  }
  inc(by = 1): void {
    this.value += by;
  }
  dec(by = 1): void {
    this.value -= by;
  }
}

interface Family {
  kind: Kind;
  template: string;
  /** Values computed on scrape by `gaugeFn`/`counterFn` readers instead of kept up to date. */
  computed: boolean;
  prom: AnyProm;
  readers: Map<string, { labels: Labels; read: () => number }>;
  /** Kept counters and gauges, handed to `prom` on collect. */
  cells: (CounterCell | GaugeCell)[];
}

class Store {
  readonly registry = new Registry();
  /** By Prometheus family name. */
  readonly families = new Map<string, Family>();
  /** Counters, gauges and histograms by `$SYS` name, so asking twice returns the same one. */
  readonly cells = new Map<string, { kind: Kind; cell: CounterCell | GaugeCell | Histogram }>();
}

export class Metrics {
  constructor(
    private readonly prefix = '',
    private readonly labels: Labels = {},
    private readonly store: Store = new Store(),
  ) {}

  /** The prom-client registry behind every metric of this gateway (`/metrics` renders it). */
  get registry(): Registry {
    return this.store.registry;
  }

  /** A monotonic count. Names are `$SYS`-style templates, e.g. `messages/dropped/{reason}`. */
  counter(name: string, labels: Labels = {}): Counter {
    return this.cell('counter', name, labels, (f, l) => {
      const c = new CounterCell(l);
      f.cells.push(c);
      (f.prom as PromCounter<string>).inc(l, 0); // the series exists (at 0) from the start, not from the first event
      return c;
    }) as Counter;
  }

  /** A value that goes up and down, set by the code that knows it. */
  gauge(name: string, labels: Labels = {}): Gauge {
    return this.cell('gauge', name, labels, (f, l) => {
      const g = new GaugeCell(l);
      f.cells.push(g);
      (f.prom as PromGauge<string>).set(l, 0);
      return g;
    }) as Gauge;
  }

  /** A gauge computed on read (queue depth, connected count) instead of kept up to date. */
  gaugeFn(name: string, read: () => number, labels: Labels = {}): void {
    this.reader('gauge', name, labels, read);
  }

  /** A counter whose total another object keeps (bytes written, restarts): read on scrape. */
  counterFn(name: string, read: () => number, labels: Labels = {}): void {
    this.reader('counter', name, labels, read);
  }

  /** A distribution (latency, fsync duration); `buckets` in the metric's unit. */
  histogram(name: string, labels: Labels = {}, buckets: number[] = DURATION_BUCKETS): Histogram {
    return this.cell('histogram', name, labels, (f, l) => {
      const h = f.prom as PromHistogram<string>;
      h.zero(l); // the series exists (empty) from the start, not from the first observation
      return { observe: (v: number) => h.observe(l, v) };
    }, buckets) as Histogram;
  }

  /** A view whose names all start with `prefix/`, e.g. `scoped('adapters/{adapter}', { adapter: 'coap' })`. */
  scoped(prefix: string, labels: Labels = {}): Metrics {
    return new Metrics(`${this.prefix}${prefix}/`, { ...this.labels, ...labels }, this.store);
  }

  /** Every counter and gauge by `$SYS` name (computed ones read now); histograms are left out. */
  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, { kind, cell }] of this.store.cells) if (kind !== 'histogram') out[k] = (cell as Counter).value;
    for (const f of this.store.families.values()) {
      for (const [k, r] of f.readers) {
        try {
          out[k] = r.read();
        } catch {
          // A reader of a subsystem that is stopping; leave it out rather than fail the snapshot.
        }
      }
    }
    return out;
  }

  /** Counters and gauges read from the registry, by `$SYS` name: what `$SYS/brokers/{node}/...` publishes. */
  async sysValues(): Promise<[string, number][]> {
    const out: [string, number][] = [];
    for (const m of await this.store.registry.getMetricsAsJSON()) {
      const f = this.store.families.get(m.name);
      if (!f || f.kind === 'histogram') continue;
      for (const v of m.values) out.push([sysName(f.template, v.labels as Labels), v.value]);
    }
    return out;
  }

  private resolve(name: string, labels: Labels): { template: string; labels: Labels; sys: string } {
    const template = this.prefix + name;
    const all = { ...this.labels, ...labels };
    const declared = labelsOf(template);
    const given = Object.keys(all);
    if (declared.length !== given.length || declared.some((l) => typeof all[l] !== 'string')) {
      throw new Error(`metric ${template}: labels {${given.join(', ')}} do not match its {label} levels`);
    }
    return { template, labels: all, sys: sysName(template, all) };
  }

  private family(kind: Kind, template: string, computed: boolean, buckets?: number[]): Family {
    const name = familyName(template, kind);
    const existing = this.store.families.get(name);
    if (existing) {
      if (existing.kind !== kind || existing.template !== template || existing.computed !== computed) {
        throw new Error(`metric ${name} is already ${existing.computed ? 'a computed ' : ''}${existing.kind} ${existing.template}, not ${kind} ${template}`);
      }
      return existing;
    }
    const readers: Family['readers'] = new Map();
    const cells: Family['cells'] = [];
    const common = { name, help: helpOf(name, kind, template), labelNames: labelsOf(template), registers: [this.store.registry] };
    let prom: AnyProm;
    if (kind === 'histogram') prom = new PromHistogram({ ...common, buckets: buckets ?? DURATION_BUCKETS });
    else if (kind === 'gauge') prom = new PromGauge({ ...common, collect: () => collectGauge(prom as PromGauge<string>, readers, cells as GaugeCell[]) });
    else prom = new PromCounter({ ...common, collect: () => collectCounter(prom as PromCounter<string>, readers, cells as CounterCell[]) });
    const f: Family = { kind, template, computed, prom, readers, cells };
    this.store.families.set(name, f);
    return f;
  }

  private cell(kind: Kind, name: string, labels: Labels, make: (f: Family, labels: Labels) => CounterCell | GaugeCell | Histogram, buckets?: number[]) {
    const r = this.resolve(name, labels);
    const have = this.store.cells.get(r.sys);
    if (have) {
      if (have.kind !== kind) throw new Error(`metric ${r.sys} is a ${have.kind}, not a ${kind}`);
      return have.cell;
    }
    const cell = make(this.family(kind, r.template, false, buckets), r.labels);
    this.store.cells.set(r.sys, { kind, cell });
    return cell;
  }

  private reader(kind: Kind, name: string, labels: Labels, read: () => number): void {
    const r = this.resolve(name, labels);
    // A restarted component registers again: its new reader replaces the old one.
    this.family(kind, r.template, true).readers.set(r.sys, { labels: r.labels, read });
  }
}

/**
 * HELP: what the family counts (help.ts), then its `$SYS` name. A family missing from help.ts
 * says only its kind; gateway/metrics/docs.test.ts fails on it.
 */
export function helpOf(name: string, kind: Kind, template: string): string {
  return `${HELP[name] ?? kind} ($SYS ${template})`;
}

function collectGauge(g: PromGauge<string>, readers: Family['readers'], cells: GaugeCell[]): void {
  for (const c of cells) g.set(c.labels, c.value);
  for (const r of readers.values()) {
    try {
      g.set(r.labels, r.read());
    } catch {
      // A stopping subsystem, or not a number: keep the last value rather than fail the scrape.
    }
  }
}

function collectCounter(c: PromCounter<string>, readers: Family['readers'], cells: CounterCell[]): void {
  for (const cell of cells) {
    if (cell.value > cell.pushed) c.inc(cell.labels, cell.value - cell.pushed);
    cell.pushed = cell.value;
  }
  if (readers.size === 0) return;
  c.reset(); // a computed family: each scrape sets it from the readers
  for (const r of readers.values()) {
    try {
      c.inc(r.labels, Math.max(0, r.read()));
    } catch {
      // As for gauges: a reader that cannot answer is left out of this scrape.
    }
  }
}
