import type { Adapter, AdapterContext, AdapterDefinition } from '../core/adapter.ts';
import { startOrder, type ServiceRegistry, type Services } from '../core/services.ts';
import type { Logger } from '../log/logger.ts';
import type { Metrics } from '../metrics/metrics.ts';

export type AdapterState = 'stopped' | 'starting' | 'running' | 'unhealthy';

export interface AdapterHealth {
  name: string;
  state: AdapterState;
  restarts: number;
  last_error?: string;
}

/** Builds the context for one run of an adapter; `close` releases what that run held. */
export type ContextFactory = (name: string, fail: (err: Error) => void, services: Services) => { ctx: AdapterContext; close(reason: string): Promise<void> };

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
  instance?: Adapter;
  release?: (reason: string) => Promise<void>;
  /** This run's services: withdrawn (watchers told) before the instance stops. */
  services?: { close(): void };
  startedAt = 0;
  timer?: NodeJS.Timeout;
  run = 0;

  constructor(readonly def: AdapterDefinition, readonly config: { enabled: boolean }) {}
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
 * Starts adapters providers first (startOrder from their provides/uses), otherwise in the given
 * order, and stops them in reverse. An adapter that fails to start, or reports a failure later, is
 * stopped, its services withdrawn, marked unhealthy and restarted with exponential backoff and
 * jitter; the others keep running.
 */
export class AdapterSupervisor {
  private readonly slots: Slot[];
  private readonly opts: SupervisorOptions;
  private stopping = false;

  constructor(
    entries: { def: AdapterDefinition; config: { enabled: boolean } }[],
    private readonly makeContext: ContextFactory,
    private readonly log: Logger,
    private readonly metrics: Metrics,
    private readonly services: ServiceRegistry,
    opts: Partial<SupervisorOptions> = {},
  ) {
    this.opts = { ...DEFAULTS, ...opts };
    // Throws on a dependency cycle or a required service nobody provides: a configuration error.
    const enabled = entries.filter((e) => e.config.enabled);
    this.slots = startOrder(enabled.map((e) => e.def)).map((def) => new Slot(def, enabled.find((e) => e.def === def)!.config));
    for (const s of this.slots) {
      this.metrics.gaugeFn(`adapters/${s.def.name}/healthy`, () => (s.state === 'running' ? 1 : 0));
      this.metrics.gaugeFn(`adapters/${s.def.name}/restarts`, () => s.restarts);
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
    const { ctx, close } = this.makeContext(s.def.name, fail, services);
    s.release = close;
    try {
      s.instance = s.def.create(s.config as never);
      await withTimeout(s.instance.start(ctx), this.opts.startTimeout, `adapter ${s.def.name} start()`);
      if (run !== s.run) return;
      s.state = 'running';
      s.startedAt = Date.now();
      this.log.info({ adapter: s.def.name }, 'adapter started');
    } catch (err) {
      await this.onFailure(s, err as Error, 'failed to start');
    }
  }

  private async onFailure(s: Slot, err: Error, what: string): Promise<void> {
    s.state = 'unhealthy';
    s.lastError = err.message;
    if (s.startedAt > 0 && Date.now() - s.startedAt > this.opts.stableAfter) s.attempt = 0;
    s.startedAt = 0;
    const delay = Math.min(this.opts.backoffMax, this.opts.backoffInitial * 2 ** s.attempt) * (0.75 + Math.random() * 0.5);
    s.attempt++;
    this.log.error({ adapter: s.def.name, err: err.message, retry_in_ms: Math.round(delay) }, `adapter ${s.def.name} ${what}: ${err.message}; restarting it, the rest of the gateway keeps running`);
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
      if (inst) await withTimeout(inst.stop(), this.opts.stopTimeout, `adapter ${s.def.name} stop()`);
    } catch (err) {
      this.log.warn({ adapter: s.def.name, err: (err as Error).message }, 'adapter did not stop cleanly');
    }
    await release?.(reason);
  }

  /** Names in start order. */
  order(): string[] {
    return this.slots.map((s) => s.def.name);
  }

  /** Stops every adapter, last started first. */
  async stopAll(): Promise<void> {
    this.stopping = true;
    for (const s of [...this.slots].reverse()) {
      if (s.timer) clearTimeout(s.timer);
      s.run++;
      await this.stopInstance(s, 'server_shutting_down');
      s.state = 'stopped';
    }
  }

  health(): AdapterHealth[] {
    return this.slots.map((s) => ({ name: s.def.name, state: s.state, restarts: s.restarts, last_error: s.lastError }));
  }
}
