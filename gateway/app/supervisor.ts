import { backoffDelay } from '../core/backoff.ts';
import { startOrder, type ServiceDeclaration, type ServiceRegistry, type Services } from '../core/services.ts';
import type { Logger } from '../log/logger.ts';
import type { Metrics } from '../metrics/metrics.ts';

export type AdapterState = 'stopped' | 'starting' | 'running' | 'unhealthy';
/** Adapters speak a device protocol; components are the other supervised parts (the HTTP API). */
export type UnitKind = 'adapter' | 'component';

export interface AdapterHealth {
  name: string;
  state: AdapterState;
  restarts: number;
  last_error?: string;
  /** Device protocols it registers devices under besides its name (the modem's lora, nbiot). */
  protocols?: readonly string[];
}

/** What the supervisor runs: an adapter or a component instance. */
export interface Runnable {
  start(ctx: never): Promise<void>;
  stop(): Promise<void>;
}

export interface UnitEntry {
  kind: UnitKind;
  def: ServiceDeclaration & { create(config: never): Runnable | Promise<Runnable> };
  config: { enabled: boolean };
}

/** Builds the context for one run of a unit; `close` releases what that run held. */
export type ContextFactory = (unit: { kind: UnitKind; name: string }, fail: (err: Error) => void, services: Services) => { ctx: unknown; close(reason: string): Promise<void> };

export interface SupervisorOptions {
  startTimeout: number;
  stopTimeout: number;
  backoffInitial: number;
  backoffMax: number;
  /** A run that lasted this long resets the backoff. */
  stableAfter: number;
}

const DEFAULTS: SupervisorOptions = { startTimeout: 15_000, stopTimeout: 5_000, backoffInitial: 1_000, backoffMax: 60_000, stableAfter: 30_000 };

class Slot {
  state: AdapterState = 'stopped';
  restarts = 0;
  attempt = 0;
  lastError?: string;
  instance?: Runnable;
  release?: (reason: string) => Promise<void>;
  /** This run's services: withdrawn (watchers told) before the instance stops. */
  services?: { close(): void };
  startedAt = 0;
  timer?: NodeJS.Timeout;
  run = 0;

  constructor(readonly kind: UnitKind, readonly def: UnitEntry['def'], readonly config: { enabled: boolean }) {}
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise<T>((_, reject) => {
      t = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
    }),
  ]);
}

/**
 * Runs adapters and components: providers first (startOrder from their provides/uses), otherwise in
 * the given order, and stops them in reverse. One that fails to start, or reports a failure later,
 * is stopped, its services withdrawn, marked unhealthy and restarted with exponential backoff and
 * jitter; the others keep running.
 */
export class Supervisor {
  private readonly slots: Slot[];
  private readonly opts: SupervisorOptions;
  private stopping = false;

  constructor(
    entries: UnitEntry[],
    private readonly makeContext: ContextFactory,
    private readonly log: Logger,
    private readonly metrics: Metrics,
    private readonly services: ServiceRegistry,
    opts: Partial<SupervisorOptions> = {},
  ) {
    this.opts = { ...DEFAULTS, ...opts };
    const names = new Set<string>();
    for (const e of entries) {
      if (names.has(e.def.name)) throw new Error(`two adapters or components are named ${e.def.name}`);
      names.add(e.def.name);
    }
    // Throws on a dependency cycle or a required service nobody provides: a configuration error.
    const enabled = entries.filter((e) => e.config.enabled);
    this.slots = startOrder(enabled.map((e) => e.def)).map((def) => {
      const e = enabled.find((x) => x.def === def)!;
      return new Slot(e.kind, def, e.config);
    });
    for (const s of this.slots.filter((x) => x.kind === 'adapter')) {
      this.metrics.gaugeFn('adapters/{adapter}/healthy', () => (s.state === 'running' ? 1 : 0), { adapter: s.def.name });
      this.metrics.counterFn('adapters/{adapter}/restarts', () => s.restarts, { adapter: s.def.name });
    }
  }

  async startAll(): Promise<void> {
    for (const s of this.slots) await this.startSlot(s);
  }

  private async startSlot(s: Slot): Promise<void> {
    if (this.stopping) return;
    const run = ++s.run;
    s.state = 'starting';
    const fail = (err: Error) => {
      if (run === s.run && s.state === 'running') void this.onFailure(s, err, 'failed');
    };
    const services = this.services.scoped(s.def);
    s.services = services;
    const { ctx, close } = this.makeContext({ kind: s.kind, name: s.def.name }, fail, services);
    s.release = close;
    const what = `${s.kind} ${s.def.name}`;
    try {
      // A component's factory may import its module first (the HTTP API loads fastify only if enabled).
      const instance = await s.def.create(s.config as never);
      if (run !== s.run) return; // stopped while its module loaded
      s.instance = instance;
      await withTimeout(instance.start(ctx as never), this.opts.startTimeout, `${what} start()`);
      if (run !== s.run) return;
      s.state = 'running';
      s.startedAt = Date.now();
      this.log.info({ [s.kind]: s.def.name }, `${s.kind} started`);
    } catch (err) {
      if (run === s.run) await this.onFailure(s, err as Error, 'failed to start');
    }
  }

  private async onFailure(s: Slot, err: Error, what: string): Promise<void> {
    s.state = 'unhealthy';
    s.lastError = err.message;
    if (s.startedAt > 0 && Date.now() - s.startedAt > this.opts.stableAfter) s.attempt = 0;
    s.startedAt = 0;
    const delay = backoffDelay(s.attempt, { initial: this.opts.backoffInitial, max: this.opts.backoffMax, jitter: 0.25, spread: 'around' });
    s.attempt++;
    this.log.error({ [s.kind]: s.def.name, err: err.message, retry_in_ms: delay }, `${s.kind} ${s.def.name} ${what}: ${err.message}; restarting it, the rest of the gateway keeps running`);
    // Its devices' sessions end with it; EMQX's name for an unexpected end is internal_error.
    await this.stopInstance(s, 'internal_error');
    if (this.stopping) return;
    s.timer = setTimeout(() => {
      s.timer = undefined;
      s.restarts++;
      void this.startSlot(s);
    }, delay);
  }

  private async stopInstance(s: Slot, reason: string): Promise<void> {
    const inst = s.instance;
    const release = s.release;
    s.instance = undefined;
    s.release = undefined;
    // Consumers let go of this run's services before it closes what is behind them.
    s.services?.close();
    s.services = undefined;
    try {
      if (inst) await withTimeout(inst.stop(), this.opts.stopTimeout, `${s.kind} ${s.def.name} stop()`);
    } catch (err) {
      this.log.warn({ [s.kind]: s.def.name, err: (err as Error).message }, `${s.kind} did not stop cleanly`);
    }
    await release?.(reason);
  }

  /**
   * An operator's restart: stops the unit now (its device sessions end with reason `kicked`) and
   * starts it again at once, with a fresh backoff. False when no enabled unit has that name.
   */
  async restart(name: string): Promise<boolean> {
    const s = this.slots.find((x) => x.def.name === name);
    if (!s || this.stopping) return false;
    if (s.timer) clearTimeout(s.timer);
    s.timer = undefined;
    s.run++;
    this.log.info({ [s.kind]: name }, `${s.kind} ${name} restarted by an operator`);
    await this.stopInstance(s, 'kicked');
    s.state = 'stopped';
    s.attempt = 0;
    s.startedAt = 0;
    s.restarts++;
    await this.startSlot(s);
    return true;
  }

  /** The running instance of a unit (an adapter for a device disconnect), if any. */
  instance(name: string): Runnable | undefined {
    const s = this.slots.find((x) => x.def.name === name);
    return s?.state === 'running' ? s.instance : undefined;
  }

  /** Names in start order. */
  order(): string[] {
    return this.slots.map((s) => s.def.name);
  }

  /** Stops every unit (of `kind`, when given), last started first; no restarts from now on. */
  async stopAll(kind?: UnitKind): Promise<void> {
    this.stopping = true;
    for (const s of [...this.slots].reverse()) {
      if (kind && s.kind !== kind) continue;
      if (s.timer) clearTimeout(s.timer);
      s.run++;
      await this.stopInstance(s, 'server_shutting_down');
      s.state = 'stopped';
    }
  }

  health(kind?: UnitKind): AdapterHealth[] {
    return this.slots.filter((s) => !kind || s.kind === kind).map((s) => ({ name: s.def.name, state: s.state, restarts: s.restarts, last_error: s.lastError }));
  }
}
