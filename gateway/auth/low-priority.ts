import { scrypt } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Derive, ScryptParams } from './password.ts';

// The checks of addresses with a failed login on record ("suspect", check-queue.ts) run here: in
// one worker thread that lowered its own scheduling priority (nice 19), not on libuv's threadpool.
// The bench showed why slot scheduling alone is not enough: a scrypt is ~50 ms of a core that
// cannot be interrupted, so a flood check that started a moment before a valid login's shares the
// core with it and the valid login's check takes up to twice as long (measured on one pinned core:
// 49 -> 94 ms with a threadpool scrypt beside it, 49 -> 43-55 ms with one in this thread). At nice
// 19 the kernel gives the thread ~1.5 % of a core that something at nice 0 wants, and all of an
// idle one, so suspects are still checked at full speed when nobody else needs the CPU.
// On Linux, setpriority() with pid 0 applies to the calling thread only (the gateway's other
// threads keep their priority); elsewhere setpriority() would renice the whole process, so the
// thread is left at normal priority there (and where Linux refuses).
// The thread is reniced twice: from outside, by the main thread, as soon as the constructor has
// started it (Linux: `new Worker()` creates the OS thread before it returns, and a thread's
// niceness can be raised by its tid from /proc/self/task), so its own bootstrap (a new isolate and
// Node's bootstrap, 20-30 ms of a core measured) already runs at nice 19 instead of beside a valid
// check at nice 0; and from inside, as before, where the outside way is not available.
// One thread: suspects run one check at a time whatever max_concurrent_checks says. Plain
// JavaScript source (not a module file): it survives the release bundle unchanged.
const SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { scryptSync } = require('node:crypto');
const os = require('node:os');
let niceness = null;
// Only on Linux: elsewhere (macOS, Windows) pid 0 means the whole process, not this thread.
if (process.platform === 'linux') try { os.setPriority(workerData.niceness); niceness = os.getPriority(); } catch {}
parentPort.postMessage({ niceness });
parentPort.on('message', (m) => {
  try { parentPort.postMessage({ id: m.id, key: scryptSync(m.password, m.salt, m.keylen, m.params) }); }
  catch (err) { parentPort.postMessage({ id: m.id, error: String(err && err.message || err) }); }
});
`;

interface Job {
  password: string;
  salt: Buffer;
  keylen: number;
  params: ScryptParams;
  resolve: (key: Buffer) => void;
  reject: (err: Error) => void;
}

type Reply = { niceness: number | null } | { id: number; key: Uint8Array } | { id: number; error: string };

export interface LowPriorityOptions {
  /** Niceness the thread asks for (19: the lowest priority). */
  niceness?: number;
  /** The thread ends after this long without work (ms), and starts again with the next check. */
  idleMs?: number;
}

export class LowPriorityScrypt {
  private worker?: Worker;
  private readonly jobs = new Map<number, Job>();
  private nextId = 1;
  private idle?: NodeJS.Timeout;
  /** The niceness the thread got (null: could not change it; undefined: not started yet). */
  niceness: number | null | undefined;
  /** The OS thread id(s) of the thread, reniced from outside (Linux; empty elsewhere or when not running). */
  tids: number[] = [];
  /** Keys derived in the thread; on the threadpool instead because the thread failed. */
  readonly counts = { derived: 0, fallbacks: 0 };

  constructor(private readonly opts: LowPriorityOptions = {}) {}

  /** The thread is running (it starts with a check and ends after `idleMs` without one). */
  get running(): boolean {
    return this.worker !== undefined;
  }

  readonly derive: Derive = (password, salt, keylen, params) =>
    new Promise<Buffer>((resolve, reject) => {
      if (this.idle) clearTimeout(this.idle);
      this.idle = undefined;
      const job = { password, salt, keylen, params, resolve, reject };
      const w = this.thread();
      if (!w) return this.fallback(job);
      const id = this.nextId++;
      this.jobs.set(id, job);
      w.ref(); // pending work keeps the process alive; an idle thread does not
      w.postMessage({ id, password, salt, keylen, params });
    });

  /** Ends the thread (pending checks finish on the threadpool). */
  async close(): Promise<void> {
    if (this.idle) clearTimeout(this.idle);
    const w = this.worker;
    this.worker = undefined;
    this.tids = [];
    if (w) await w.terminate();
    this.rescue();
  }

  /** Starts the thread now if it is not running (it starts with the first check otherwise). */
  start(): boolean {
    return this.thread() !== undefined;
  }

  private thread(): Worker | undefined {
    if (this.worker) return this.worker;
    let w: Worker;
    const niceness = this.opts.niceness ?? 19;
    const before = threadIds();
    try {
      w = new Worker(SOURCE, { eval: true, workerData: { niceness }, resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 2 } });
    } catch {
      return undefined;
    }
    this.worker = w;
    this.tids = renice(before, niceness);
    if (this.tids.length) this.niceness = getPriority(this.tids[0]);
    w.on('message', (m: Reply) => this.reply(m));
    // A thread that dies (out of memory, killed) takes no check with it: they finish on the pool.
    const lost = () => {
      if (this.worker !== w) return;
      this.worker = undefined;
      this.tids = [];
      this.rescue();
    };
    w.on('error', lost);
    w.on('exit', lost);
    return w;
  }

  private reply(m: Reply): void {
    if (!('id' in m)) {
      // The thread's own view; null (it could not renice itself) does not undo the outside renice.
      if (m.niceness !== null || !this.tids.length) this.niceness = m.niceness;
      return;
    }
    const job = this.jobs.get(m.id);
    if (!job) return;
    this.jobs.delete(m.id);
    if ('error' in m) job.reject(new Error(m.error));
    else {
      this.counts.derived++;
      job.resolve(Buffer.from(m.key.buffer, m.key.byteOffset, m.key.byteLength));
    }
    if (this.jobs.size === 0 && this.worker) {
      this.worker.unref();
      const w = this.worker;
      this.idle = setTimeout(() => {
        if (this.worker === w && this.jobs.size === 0) void this.close();
      }, this.opts.idleMs ?? 60_000).unref();
    }
  }

  private rescue(): void {
    const jobs = [...this.jobs.values()];
    this.jobs.clear();
    for (const j of jobs) this.fallback(j);
  }

  private fallback(j: Job): void {
    this.counts.fallbacks++;
    scrypt(j.password, j.salt, j.keylen, j.params, (err, key) => (err ? j.reject(err) : j.resolve(key)));
  }
}

/** This process's OS thread ids (Linux); empty where /proc is not there. */
function threadIds(): Set<string> {
  try {
    return new Set(readdirSync('/proc/self/task'));
  } catch {
    return new Set();
  }
}

/**
 * Sets `niceness` on the threads that appeared since `before` (the Worker's, which exists once its
 * constructor returned), skipping libuv threadpool threads that a first use of the pool might have
 * started meanwhile; returns the ids reniced. Raising niceness needs no privilege.
 */
function renice(before: Set<string>, niceness: number): number[] {
  if (!before.size) return [];
  const done: number[] = [];
  for (const tid of threadIds()) {
    if (before.has(tid)) continue;
    try {
      if (readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').startsWith('libuv')) continue;
      setPriority(Number(tid), niceness);
      done.push(Number(tid));
    } catch {
      // ended meanwhile, or the platform refused: the thread renices itself (SOURCE)
    }
  }
  return done;
}
