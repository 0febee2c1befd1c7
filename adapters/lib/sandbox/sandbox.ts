import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { threadCpuMs } from './thread-cpu.ts';
import { WORKER_SOURCE } from './worker-source.ts';

// Operators' decoder files run in a worker thread, in their own vm context, with two limits:
// - CPU time per call: the host reads the worker thread's CPU time (thread-cpu.ts) and terminates
//   the worker when a call has used `timeLimitMs` of it. A decoder that merely waits for a core on
//   a loaded host is not stopped; one that loops is. A call also ends after `10 x timeLimitMs` (at
//   least 1 s) of wall-clock time, for a decoder that blocks without using CPU (Atomics.wait) or a
//   host without /proc (then that is the only limit).
// - memory: the worker's V8 heap (`memoryMb`); a decoder that allocates without bound ends its
//   worker (ERR_WORKER_OUT_OF_MEMORY) instead of the gateway.
// After either, a fresh worker loads the file again for the next call. Memory outside the V8 heap
// (ArrayBuffer contents) is not counted by V8's limit: only the CPU limit bounds it.
// Two hosts: SyncSandbox blocks the caller until the call ends (the BLE adapter decodes inside a
// synchronous pipeline); AsyncSandbox returns a promise (the modem adapter).

export interface SandboxOptions {
  /** The file's name, for stack traces and messages. */
  file: string;
  source: string;
  /** Run in the context before the file, e.g. `var module = { exports: {} };`. */
  prelude?: string;
  /** An expression evaluated in the context after the file: the function each call runs. */
  entry: string;
  /** No eval / new Function / WebAssembly in the context. */
  strict?: boolean;
  /** CPU time a call may use. */
  timeLimitMs: number;
  /** Wall-clock time loading the file may take (vm timeout), worker start-up included. */
  loadLimitMs: number;
  /** The worker's V8 old-generation heap. */
  memoryMb?: number;
}

/** What a call gave: the function's return value as JSON text (`null` for undefined), or why not. */
export type Outcome =
  | { kind: 'value'; json: string }
  | { kind: 'threw'; message: string }
  | { kind: 'promise' }
  /** The worker was terminated: out of CPU time (or wall-clock backstop), or over its heap limit. */
  | { kind: 'stopped'; reason: 'time' | 'memory' };

interface Reply {
  id: number;
  json?: string;
  threw?: string;
  promise?: true;
  missing?: true;
  thread?: string;
}

/** One worker and its port; the hosts below decide how to wait for replies. */
class Thread {
  readonly worker: Worker;
  readonly port: MessagePort;
  readonly signal = new Int32Array(new SharedArrayBuffer(4));
  /** "<pid>/task/<tid>" once loaded, when /proc is there. */
  thread?: string;
  /** Set by the 'error' event: the heap limit ended the worker. */
  outOfMemory = false;
  private nextId = 1;

  constructor(readonly o: SandboxOptions) {
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { port: port2, signal: this.signal },
      transferList: [port2],
      resourceLimits: { maxOldGenerationSizeMb: o.memoryMb ?? 32 },
    });
    this.worker.unref();
    // Without a listener a worker's error would be thrown in the gateway.
    this.worker.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ERR_WORKER_OUT_OF_MEMORY') this.outOfMemory = true;
    });
  }

  post(msg: Record<string, unknown>): number {
    const id = this.nextId++;
    this.port.postMessage({ ...msg, id });
    return id;
  }

  postLoad(): number {
    const o = this.o;
    return this.post({ type: 'load', file: o.file, source: o.source, prelude: o.prelude, entry: o.entry, strict: o.strict, loadLimitMs: o.loadLimitMs });
  }

  cpuMs(): number | undefined {
    return this.thread ? threadCpuMs(this.thread) : undefined;
  }

  kill(): Promise<number> {
    this.port.close();
    return this.worker.terminate();
  }
}

/** How long to wait before looking again, or the reason to stop the call now. */
function verdict(t: Thread, limitMs: number, cpu0: number | undefined, started: number): number | 'time' | 'memory' {
  const wall = performance.now() - started;
  const backstop = Math.max(1000, 10 * limitMs);
  if (wall >= backstop) return 'time';
  const cpu = t.cpuMs();
  // The thread was readable when the call began: gone now means its heap limit ended it.
  if (cpu0 !== undefined && cpu === undefined) return 'memory';
  const used = cpu0 !== undefined && cpu !== undefined ? cpu - cpu0 : wall;
  if (used >= limitMs) return 'time';
  // Looked at again at least every 50 ms: a worker ended by its heap limit notifies nobody.
  return Math.max(1, Math.min(limitMs - used, backstop - wall, 50));
}

function outcome(r: Reply): Outcome {
  if (r.threw !== undefined) return { kind: 'threw', message: r.threw };
  if (r.promise) return { kind: 'promise' };
  return { kind: 'value', json: r.json ?? 'null' };
}

function loadError(r: Reply): string | undefined {
  if (r.threw !== undefined) return r.threw;
  if (r.missing) return 'missing';
  return undefined;
}

/** Thrown by load when the file defines no function at `entry`; callers word it for their contract. */
export class NoEntryError extends Error {}

function checkLoaded(t: Thread, r: Reply): void {
  const err = loadError(r);
  if (err === 'missing') throw new NoEntryError(`${t.o.file} defines no function`);
  if (err !== undefined) throw new Error(err);
  t.thread = r.thread;
}

/** Blocks the calling thread until each call ends. Loads in the constructor: throws for a bad file. */
export class SyncSandbox {
  private t: Thread | undefined;
  /** The load message of a worker started after a stop, not answered yet. */
  private loading: number | undefined;
  private closed = false;
  /** Workers terminated because a call ran out of CPU time or memory. */
  resets = 0;

  constructor(private readonly o: SandboxOptions) {
    const t = new Thread(o);
    this.t = t;
    const r = this.await(t, t.postLoad(), o.loadLimitMs + 5000);
    if (!r) {
      void t.kill();
      throw new Error(`did not load within ${o.loadLimitMs + 5000} ms`);
    }
    try {
      checkLoaded(t, r);
    } catch (err) {
      void t.kill();
      throw err;
    }
  }

  /** Calls the function with `input` (JSON text). */
  call(input: string): Outcome {
    if (this.closed) return { kind: 'threw', message: 'sandbox closed' };
    const t = this.ready();
    if (!t) return { kind: 'stopped', reason: 'time' };
    const cpu0 = t.cpuMs();
    const started = performance.now();
    const id = t.post({ type: 'call', input });
    for (;;) {
      const seen = Atomics.load(t.signal, 0);
      const r = this.take(t, id);
      if (r) return outcome(r);
      const next = verdict(t, this.o.timeLimitMs, cpu0, started);
      if (typeof next === 'string') {
        this.replace(t);
        return { kind: 'stopped', reason: next };
      }
      Atomics.wait(t.signal, 0, seen, next);
    }
  }

  /** The current worker, loaded; undefined if a restarted one failed to load (it is retried next call). */
  private ready(): Thread | undefined {
    const t = this.t ?? this.spawn();
    if (this.loading === undefined) return t;
    const r = this.await(t, this.loading, this.o.loadLimitMs + 5000);
    this.loading = undefined;
    try {
      if (!r) throw new Error('no reply');
      checkLoaded(t, r);
      return t;
    } catch {
      this.replace(t);
      return undefined;
    }
  }

  private spawn(): Thread {
    const t = new Thread(this.o);
    this.t = t;
    this.loading = t.postLoad();
    return t;
  }

  /** Ends a worker and starts the next one now, so it boots while the caller goes on. */
  private replace(t: Thread): void {
    this.resets++;
    void t.kill();
    this.t = undefined;
    this.loading = undefined;
    if (!this.closed) this.spawn();
  }

  private await(t: Thread, id: number, wallMs: number): Reply | undefined {
    const until = performance.now() + wallMs;
    for (;;) {
      const seen = Atomics.load(t.signal, 0);
      const r = this.take(t, id);
      if (r) return r;
      const left = until - performance.now();
      if (left <= 0) return undefined;
      Atomics.wait(t.signal, 0, seen, left);
    }
  }

  /** The reply to `id` if it is on the port (older replies are dropped). */
  private take(t: Thread, id: number): Reply | undefined {
    for (let m = receiveMessageOnPort(t.port); m; m = receiveMessageOnPort(t.port)) {
      const r = m.message as Reply;
      if (r.id === id) return r;
    }
    return undefined;
  }

  async close(): Promise<void> {
    this.closed = true;
    const t = this.t;
    this.t = undefined;
    if (t) await t.kill();
  }
}

/** Calls return promises; calls run one at a time in order. `load` starts the worker. */
export class AsyncSandbox {
  private t: Thread | undefined;
  private ready: Promise<Thread> | undefined;
  private readonly waiting = new Map<number, (r: Reply | undefined) => void>();
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** Workers terminated because a call ran out of CPU time or memory. */
  resets = 0;

  constructor(private readonly o: SandboxOptions) {}

  /** Starts the worker and loads the file; rejects with why it cannot be used. */
  load(): Promise<void> {
    return this.loaded().then(() => undefined);
  }

  private loaded(): Promise<Thread> {
    this.ready ??= this.spawn().catch((err: unknown) => {
      this.ready = undefined;
      throw err;
    });
    return this.ready;
  }

  private async spawn(): Promise<Thread> {
    const t = new Thread(this.o);
    this.t = t;
    t.port.on('message', (r: Reply) => {
      const done = this.waiting.get(r.id);
      this.waiting.delete(r.id);
      done?.(r);
    });
    t.port.unref();
    // A worker that ends by itself (its heap limit) answers nothing more.
    t.worker.on('exit', () => {
      if (this.t !== t) return;
      this.t = undefined;
      this.ready = undefined;
      for (const done of this.waiting.values()) done(undefined);
      this.waiting.clear();
    });
    const r = await this.reply(t.postLoad(), this.o.loadLimitMs + 5000);
    try {
      if (!r) throw new Error(`did not load within ${this.o.loadLimitMs + 5000} ms`);
      checkLoaded(t, r);
    } catch (err) {
      this.drop(t);
      throw err;
    }
    return t;
  }

  private reply(id: number, wallMs: number): Promise<Reply | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        resolve(undefined);
      }, wallMs);
      this.waiting.set(id, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
    });
  }

  /** Calls the function with `input` (JSON text) once the calls before it have ended. */
  call(input: string): Promise<Outcome> {
    const run = this.queue.then(() => this.run(input));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async run(input: string): Promise<Outcome> {
    if (this.closed) return { kind: 'threw', message: 'sandbox closed' };
    const t = await this.loaded();
    const cpu0 = t.cpuMs();
    const started = performance.now();
    const id = t.post({ type: 'call', input });
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const check = () => {
        const next = verdict(t, this.o.timeLimitMs, cpu0, started);
        if (typeof next === 'number') return void (timer = setTimeout(check, next));
        this.waiting.delete(id);
        this.resets++;
        this.drop(t);
        resolve({ kind: 'stopped', reason: t.outOfMemory ? 'memory' : next });
      };
      this.waiting.set(id, (r) => {
        clearTimeout(timer);
        if (r) return resolve(outcome(r));
        if (this.closed) return resolve({ kind: 'threw', message: 'sandbox closed' });
        this.resets++;
        resolve({ kind: 'stopped', reason: 'memory' });
      });
      check();
    });
  }

  private drop(t: Thread): void {
    if (this.t === t) {
      this.t = undefined;
      this.ready = undefined;
    }
    void t.kill();
  }

  async close(): Promise<void> {
    this.closed = true;
    const t = this.t;
    this.t = undefined;
    this.ready = undefined;
    // A call in progress ends now, not at its limit.
    for (const done of this.waiting.values()) done(undefined);
    this.waiting.clear();
    if (t) await t.kill();
  }
}
