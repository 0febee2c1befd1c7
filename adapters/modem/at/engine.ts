import type { Dialect } from './dialect.ts';
import { AtError } from './errors.ts';
import { LineFramer, type FramerEvent } from './framer.ts';

export interface CommandOptions {
  /** Absolute deadline for the final result (never re-armed by chatter). */
  timeoutMs?: number;
  /** A line that ends the command successfully, checked before URCs (e.g. a reboot banner). */
  done?: RegExp;
  /** The first line that is not echo, URC or an error code is the result (RN2483 `mac pause`, `radio get snr`). */
  value?: boolean;
  /** An info line that announces N raw bytes (BG96 `+QIRD: N,...`): return N, or undefined. */
  rawAfter?: (line: string) => number | undefined;
  /** Wait for this prompt (no newline, e.g. `> `), then write `data`. */
  prompt?: { text: string; data: Buffer | string };
  /** Recovery commands go ahead of everything queued. */
  priority?: boolean;
}

export interface AtResponse {
  command: string;
  lines: string[];
  final: string;
  raw?: Buffer;
  /** The modem echoed the command (RUI3 with echo on). */
  echoed: boolean;
}

export interface UrcOptions {
  /** The URC is followed by N raw bytes (direct-push datagrams); the handler gets them. */
  rawLen?: (m: RegExpExecArray) => number;
}

type UrcHandler = (m: RegExpExecArray, raw?: Buffer) => void;

interface Pending {
  command: string;
  opts: CommandOptions;
  lines: string[];
  raw?: Buffer;
  echoSeen: boolean;
  timer?: NodeJS.Timeout;
  resolve(r: AtResponse): void;
  reject(e: AtError): void;
}

interface Waiter {
  re: RegExp;
  timer: NodeJS.Timeout;
  resolve(m: RegExpExecArray): void;
  reject(e: Error): void;
}

export interface EngineHooks {
  /** A line nobody claimed while no command was in flight. */
  unexpected?(line: string): void;
  /** A URC handler threw; the engine keeps going. */
  handlerError?(err: Error, line: string): void;
  overflow?(bytes: number): void;
}

export interface EngineStats {
  lines: number;
  urcs: number;
  unexpected: number;
  timeouts: number;
  overflows: number;
}

/**
 * One-command-in-flight AT engine (modems.md §6.2). It never touches a port: bytes arrive through
 * feed() and leave through the writer given to attach(), so every behaviour can be driven byte by
 * byte in a test. Each line is classified, in order: echo of the command in flight -> a waiter
 * (phase-2 result registered before the command was written) -> the command's `done` pattern -> a
 * URC -> the dialect's final codes -> info line of the command in flight (or `unexpected`).
 */
export class AtEngine {
  private readonly framer: LineFramer;
  private readonly queue: Pending[] = [];
  private inflight: Pending | undefined;
  private rawFor: { pending?: Pending; urc?: { fn: UrcHandler; m: RegExpExecArray } } | undefined;
  private readonly urcs: { re: RegExp; fn: UrcHandler; opts: UrcOptions }[] = [];
  private readonly waiters = new Set<Waiter>();
  private write: ((data: Buffer) => void) | undefined;
  readonly stats: EngineStats = { lines: 0, urcs: 0, unexpected: 0, timeouts: 0, overflows: 0 };
  /** Timeouts in a row, reset by any successful command: the recovery ladder reads it. */
  consecutiveTimeouts = 0;

  constructor(
    readonly dialect: Dialect,
    /** `maxLine`: longer lines are dropped and reported as overflow (default the framer's 1024). */
    private readonly opts: { defaultTimeoutMs?: number; maxQueue?: number; maxLine?: number; hooks?: EngineHooks } = {},
  ) {
    this.framer = new LineFramer((e) => this.onEvent(e), opts.maxLine !== undefined ? { maxLine: opts.maxLine } : {});
  }

  get attached(): boolean {
    return this.write !== undefined;
  }

  get busy(): boolean {
    return this.inflight !== undefined || this.queue.length > 0;
  }

  attach(write: (data: Buffer) => void): void {
    this.write = write;
    this.framer.reset();
    this.pump();
  }

  /** The port closed: everything queued or in flight fails with kind 'closed'. */
  detach(reason: string): void {
    this.write = undefined;
    this.framer.reset();
    this.rawFor = undefined;
    const all = this.inflight ? [this.inflight, ...this.queue] : [...this.queue];
    this.inflight = undefined;
    this.queue.length = 0;
    for (const p of all) this.fail(p, new AtError('closed', p.command, `${p.command}: port closed (${reason})`));
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.reject(new AtError('closed', String(w.re), `port closed (${reason}) while waiting for ${w.re}`));
    }
    this.waiters.clear();
  }

  feed(chunk: Buffer): void {
    this.framer.push(chunk);
  }

  onUrc(re: RegExp, fn: UrcHandler, opts: UrcOptions = {}): void {
    this.urcs.push({ re, fn, opts });
  }

  /**
   * Resolves on the next line matching `re`, which is then consumed. Register it before writing the
   * command whose phase 2 it is: the line may arrive in the same chunk as the OK.
   */
  expect(re: RegExp, timeoutMs: number): { promise: Promise<RegExpExecArray>; cancel(): void } {
    let waiter!: Waiter;
    const promise = new Promise<RegExpExecArray>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new AtError('timeout', String(re), `no ${re} within ${timeoutMs} ms`));
      }, timeoutMs);
      waiter = { re, timer, resolve, reject };
    });
    this.waiters.add(waiter);
    // A waiter whose command failed first may reject with nobody awaiting it: that is not a crash.
    promise.catch(() => {});
    return {
      promise,
      cancel: () => {
        clearTimeout(waiter.timer);
        this.waiters.delete(waiter);
      },
    };
  }

  send(command: string, opts: CommandOptions = {}): Promise<AtResponse> {
    return new Promise<AtResponse>((resolve, reject) => {
      const p: Pending = { command, opts, lines: [], echoSeen: false, resolve, reject };
      if (!this.write) return reject(new AtError('closed', command, `${command}: port not open`));
      if (this.queue.length >= (this.opts.maxQueue ?? 64)) return reject(new AtError('queue_full', command, `${command}: ${this.queue.length} commands already queued`));
      if (opts.priority) this.queue.unshift(p);
      else this.queue.push(p);
      this.pump();
    });
  }

  private pump(): void {
    if (this.inflight || !this.write) return;
    const p = this.queue.shift();
    if (!p) return;
    this.inflight = p;
    const timeoutMs = p.opts.timeoutMs ?? this.opts.defaultTimeoutMs ?? 1000;
    p.timer = setTimeout(() => this.onTimeout(p, timeoutMs), timeoutMs);
    if (p.opts.prompt) this.framer.armPrompt(p.opts.prompt.text);
    this.write(Buffer.from(p.command + this.dialect.eol, 'latin1'));
  }

  private onTimeout(p: Pending, ms: number): void {
    if (this.inflight !== p) return;
    this.stats.timeouts++;
    this.consecutiveTimeouts++;
    this.finish(p);
    this.fail(p, new AtError('timeout', p.command, `${p.command}: no final result within ${ms} ms`, undefined, p.lines));
  }

  private finish(p: Pending): void {
    clearTimeout(p.timer);
    if (this.inflight === p) this.inflight = undefined;
    if (p.opts.prompt) this.framer.armPrompt(undefined);
    if (this.rawFor?.pending === p) this.rawFor = undefined;
    // Later commands start on the next tick: a handler resolving this one may queue its successor first.
    setImmediate(() => this.pump());
  }

  private fail(p: Pending, err: AtError): void {
    clearTimeout(p.timer);
    p.reject(err);
  }

  private succeed(p: Pending, final: string): void {
    this.consecutiveTimeouts = 0;
    this.finish(p);
    p.resolve({ command: p.command, lines: p.lines, final, raw: p.raw, echoed: p.echoSeen });
  }

  private onEvent(e: FramerEvent): void {
    switch (e.kind) {
      case 'line':
        this.stats.lines++;
        this.onLine(e.text);
        return;
      case 'prompt': {
        const p = this.inflight;
        if (p?.opts.prompt && this.write) this.write(Buffer.isBuffer(p.opts.prompt.data) ? p.opts.prompt.data : Buffer.from(p.opts.prompt.data, 'latin1'));
        return;
      }
      case 'raw': {
        const target = this.rawFor;
        this.rawFor = undefined;
        if (target?.pending) target.pending.raw = e.data;
        else if (target?.urc) this.callUrc(target.urc.fn, target.urc.m, e.data, '(raw)');
        return;
      }
      case 'overflow':
        this.stats.overflows++;
        this.opts.hooks?.overflow?.(e.bytes);
        return;
    }
  }

  private onLine(text: string): void {
    const p = this.inflight;
    if (p && !p.echoSeen && p.lines.length === 0 && text === p.command) {
      p.echoSeen = true;
      return;
    }
    for (const w of this.waiters) {
      const m = w.re.exec(text);
      if (!m) continue;
      clearTimeout(w.timer);
      this.waiters.delete(w);
      w.resolve(m);
      return;
    }
    if (p?.opts.done?.test(text)) return this.succeed(p, text);
    for (const u of this.urcs) {
      const m = u.re.exec(text);
      if (!m) continue;
      this.stats.urcs++;
      const n = u.opts.rawLen?.(m);
      if (n !== undefined) {
        this.rawFor = { urc: { fn: u.fn, m } };
        this.framer.expectRaw(n);
        return;
      }
      this.callUrc(u.fn, m, undefined, text);
      return;
    }
    if (!p) {
      this.stats.unexpected++;
      this.opts.hooks?.unexpected?.(text);
      return;
    }
    if (this.dialect.ok.some((re) => re.test(text))) return this.succeed(p, text);
    if (this.dialect.error.some((re) => re.test(text))) {
      this.finish(p);
      this.fail(p, new AtError('error', p.command, `${p.command}: ${text}`, text, p.lines));
      return;
    }
    if (p.opts.value) return this.succeed(p, text);
    p.lines.push(text);
    const n = p.opts.rawAfter?.(text);
    if (n !== undefined) {
      this.rawFor = { pending: p };
      this.framer.expectRaw(n);
    }
  }

  private callUrc(fn: UrcHandler, m: RegExpExecArray, raw: Buffer | undefined, line: string): void {
    try {
      fn(m, raw);
    } catch (err) {
      this.opts.hooks?.handlerError?.(err as Error, line);
    }
  }
}
