// Services between adapters and components, through the core: one part provides a named service
// (a modem's `datagram/nb0`), another uses it (the CoAP adapter serves CoAP over it) without
// importing the provider. Definitions declare what they provide and use; the supervisor derives
// the start order from that (startOrder below) and withdraws a run's services when it ends, so a
// consumer watching a name sees `undefined` when its provider stops and the new instance after
// the restart.
import type { DatagramTransport } from './datagram.ts';

/**
 * Service names and their types. A name ending in `/` in a declaration is a prefix: `datagram/`
 * covers `datagram/nb0`. Add a service by adding its name here (or by declaration merging).
 */
export interface ServiceTypes {
  /** A datagram socket another part serves (a modem's NB-IoT socket): gateway/core/datagram.ts. */
  [name: `datagram/${string}`]: DatagramTransport;
  /** The HTTP management API, while it listens. */
  'http/api': { url: string; host: string; port: number };
}

export type ServiceName = keyof ServiceTypes & string;
/** The type of the services whose names start with P. */
export type ServiceUnder<P extends string> = ServiceTypes[Extract<ServiceName, `${P}${string}`>];

/** What an adapter or component declares, so the supervisor can order and check it. */
export interface ServiceDeclaration {
  name: string;
  /** Names or prefixes (ending in `/`) this part provides. */
  provides?: readonly string[];
  /** Names or prefixes it uses when present: its providers start first. */
  uses?: readonly string[];
  /** Like uses, but starting without a provider is a configuration error. */
  requires?: readonly string[];
}

/** The `ctx.services` of one run of an adapter or component. */
export interface Services {
  /** Publishes a service; it is withdrawn when this run stops or fails. Must be declared in `provides`. */
  provide<N extends ServiceName>(name: N, value: ServiceTypes[N]): void;
  /** Withdraws a service this run provided (its socket closed); watchers get undefined. */
  withdraw(name: ServiceName): void;
  get<N extends ServiceName>(name: N): ServiceTypes[N] | undefined;
  /** Calls back now with the current instance (if any), then on every change; undefined = gone. */
  watch<N extends ServiceName>(name: N, cb: (value: ServiceTypes[N] | undefined) => void): () => void;
  /** Like watch, for every service whose name starts with `prefix` ("datagram/"). */
  watchPrefix<P extends string>(prefix: P, cb: (name: string, value: ServiceUnder<P> | undefined) => void): () => void;
}

/** A declared name or prefix covers a name (or a narrower prefix). */
export const covers = (pattern: string, name: string): boolean => (pattern.endsWith('/') ? name.startsWith(pattern) : name === pattern);
/** A provided pattern and a used pattern can name the same service. */
const overlaps = (a: string, b: string): boolean => covers(a, b) || covers(b, a);

type Listener = { prefix: string; exact: boolean; cb: (name: string, value: unknown) => void };

/** The gateway's one table of services. Pure: no I/O, callbacks run synchronously. */
export class ServiceRegistry {
  private readonly entries = new Map<string, { owner: string; value: unknown }>();
  private readonly listeners = new Set<Listener>();

  /** A watcher threw: reported here (logged by the gateway), the provider is not disturbed. */
  constructor(private readonly onWatcherError: (err: Error, service: string) => void = () => {}) {}

  provide(owner: string, name: string, value: unknown): void {
    const held = this.entries.get(name);
    if (held && held.owner !== owner) throw new Error(`service ${name} is already provided by ${held.owner}; ${owner} cannot provide it too`);
    this.entries.set(name, { owner, value });
    this.notify(name, value);
  }

  withdraw(owner: string, name: string): void {
    if (this.entries.get(name)?.owner !== owner) return;
    this.entries.delete(name);
    this.notify(name, undefined);
  }

  /** Withdraws everything `owner` provides (its run ended). */
  withdrawAll(owner: string): void {
    for (const [name, e] of [...this.entries]) if (e.owner === owner) this.withdraw(owner, name);
  }

  get<N extends ServiceName>(name: N): ServiceTypes[N] | undefined {
    return this.entries.get(name)?.value as ServiceTypes[N] | undefined;
  }

  /** Provided names (with their owners), sorted, for health output. */
  list(): { name: string; owner: string }[] {
    return [...this.entries].map(([name, e]) => ({ name, owner: e.owner })).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** `exact`: only `key`; otherwise every name starting with `key`. Current ones are reported now. */
  subscribe(key: string, exact: boolean, cb: (name: string, value: unknown) => void): () => void {
    const l: Listener = { prefix: key, exact, cb };
    this.listeners.add(l);
    for (const [name, e] of [...this.entries]) if (this.hears(l, name)) this.call(l, name, e.value);
    return () => this.listeners.delete(l);
  }

  /** The view one run gets as ctx.services: checked against its declaration, released by close(). */
  scoped(decl: ServiceDeclaration): Services & { close(): void } {
    const owner = decl.name;
    const unsubs = new Set<() => void>();
    const using = [...(decl.uses ?? []), ...(decl.requires ?? [])];
    const mayUse = (name: string) => {
      if (!using.some((p) => covers(p, name))) throw new Error(`${owner} uses service ${name} without declaring it in uses or requires`);
    };
    const track = (unsub: () => void) => {
      unsubs.add(unsub);
      return () => {
        unsubs.delete(unsub);
        unsub();
      };
    };
    return {
      provide: (name, value) => {
        if (!(decl.provides ?? []).some((p) => covers(p, name))) throw new Error(`${owner} provides service ${name} without declaring it in provides`);
        this.provide(owner, name, value);
      },
      withdraw: (name) => this.withdraw(owner, name),
      get: (name) => {
        mayUse(name);
        return this.get(name);
      },
      watch: (name, cb) => {
        mayUse(name);
        return track(this.subscribe(name, true, (_, v) => cb(v as never)));
      },
      watchPrefix: (prefix, cb) => {
        mayUse(prefix);
        return track(this.subscribe(prefix, false, (n, v) => cb(n, v as never)));
      },
      close: () => {
        for (const u of unsubs) u();
        unsubs.clear();
        this.withdrawAll(owner);
      },
    };
  }

  private hears(l: Listener, name: string): boolean {
    return l.exact ? l.prefix === name : name.startsWith(l.prefix);
  }

  private notify(name: string, value: unknown): void {
    for (const l of [...this.listeners]) if (this.listeners.has(l) && this.hears(l, name)) this.call(l, name, value);
  }

  private call(l: Listener, name: string, value: unknown): void {
    try {
      l.cb(name, value);
    } catch (err) {
      this.onWatcherError(err as Error, name);
    }
  }
}

/**
 * Start order from the declarations: every provider of a service before its users, otherwise the
 * given order (stable). Throws on a cycle, naming it, and on a `requires` nobody provides.
 */
export function startOrder<T extends ServiceDeclaration>(units: readonly T[]): T[] {
  const deps = new Map<T, Set<T>>();
  for (const u of units) {
    const before = new Set<T>();
    for (const [pattern, required] of [...(u.uses ?? []).map((p) => [p, false] as const), ...(u.requires ?? []).map((p) => [p, true] as const)]) {
      const providers = units.filter((p) => p !== u && (p.provides ?? []).some((x) => overlaps(x, pattern)));
      if (required && providers.length === 0 && !(u.provides ?? []).some((x) => overlaps(x, pattern))) {
        throw new Error(`${u.name} requires the service ${pattern}, which no enabled adapter or component provides`);
      }
      for (const p of providers) before.add(p);
    }
    deps.set(u, before);
  }
  const placed = new Set<T>();
  const out: T[] = [];
  while (out.length < units.length) {
    const next = units.find((u) => !placed.has(u) && [...deps.get(u)!].every((d) => placed.has(d)));
    if (!next) throw new Error(`service dependencies form a cycle (each needs the next one started first): ${cycleOf(units.filter((u) => !placed.has(u)), deps)}`);
    placed.add(next);
    out.push(next);
  }
  return out;
}

/** A cycle among the units that could not be placed: "a -> b -> a" (a needs b, b needs a). */
function cycleOf<T extends ServiceDeclaration>(left: T[], deps: Map<T, Set<T>>): string {
  const path: T[] = [];
  let u: T | undefined = left[0];
  while (u && !path.includes(u)) {
    path.push(u);
    u = [...deps.get(u)!].find((d) => left.includes(d));
  }
  const cycle = u ? path.slice(path.indexOf(u)) : path;
  return [...cycle, cycle[0]!].map((x) => x.name).join(' -> ');
}
