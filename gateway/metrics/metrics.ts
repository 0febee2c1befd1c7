// A tiny in-process metrics registry. Written here rather than taking prom-client because the
// consumers ($SYS stats, `fieldgate` CLI, bench output) need synchronous reads of plain numbers on
// the hot path, and prom-client's async collectors, label maps and default process collectors cost
// memory on a Pi for features nothing here uses.

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

class Cell implements Counter, Gauge {
  value = 0;
  inc(by = 1): void {
    this.value += by;
  }
  dec(by = 1): void {
    this.value -= by;
  }
  set(v: number): void {
    this.value = v;
  }
}

interface Store {
  cells: Map<string, Cell>;
  readers: Map<string, () => number>;
}

export class Metrics {
  constructor(
    private readonly prefix = '',
    private readonly store: Store = { cells: new Map(), readers: new Map() },
  ) {}

  private cell(name: string): Cell {
    const full = this.prefix + name;
    let c = this.store.cells.get(full);
    if (!c) {
      c = new Cell();
      this.store.cells.set(full, c);
    }
    return c;
  }

  /** Names are slash-separated like EMQX's $SYS metrics, e.g. `messages/received`. */
  counter(name: string): Counter {
    return this.cell(name);
  }

  gauge(name: string): Gauge {
    return this.cell(name);
  }

  /** A gauge computed on read (queue depth, connected count) instead of kept up to date. */
  gaugeFn(name: string, read: () => number): void {
    this.store.readers.set(this.prefix + name, read);
  }

  /** A view whose names all start with `prefix/`, for one adapter or subsystem. */
  scoped(prefix: string): Metrics {
    return new Metrics(`${this.prefix}${prefix}/`, this.store);
  }

  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, c] of this.store.cells) out[k] = c.value;
    for (const [k, read] of this.store.readers) {
      try {
        out[k] = read();
      } catch {
        // A reader of a subsystem that is stopping; leave it out rather than fail the snapshot.
      }
    }
    return out;
  }
}
