import { readFileSync } from 'node:fs';
import { Script } from 'node:vm';
import { Worker } from 'node:worker_threads';
import type { Decoded, Decoder } from './decoder.ts';

// Runs in the worker: the operator's file in its own vm context, one call per message. The context
// has its own microtask queue, drained right after each evaluation and inside its timeout, so a
// decoder that queues promises forever is stopped by the limit instead of keeping the worker's core
// busy between frames. After a timeout the context is unusable (jobs may remain queued in it): the
// reply says reset, and the host replaces the worker.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const vm = require('node:vm');
let ctx;
parentPort.on('message', (m) => {
  const reply = (r) => parentPort.postMessage(Object.assign({ id: m.id }, r));
  const opts = { timeout: m.timeoutMs };
  try {
    if (m.type === 'load') {
      ctx = vm.createContext({}, { microtaskMode: 'afterEvaluate' });
      new vm.Script(m.source, { filename: m.file }).runInContext(ctx, opts);
      const t = vm.runInContext('typeof decodeUplink', ctx, opts);
      return reply(t === 'function' ? {} : { error: 'does not define function decodeUplink(input)' });
    }
    ctx.__in = m.input;
    reply({ out: vm.runInContext('JSON.stringify(decodeUplink(JSON.parse(__in)))', ctx, opts) });
  } catch (e) {
    if (e && e.code === 'ERR_SCRIPT_EXECUTION_TIMEOUT') return reply({ error: 'timed out after ' + m.timeoutMs + ' ms', reset: true });
    reply({ error: String((e && e.message) || e) });
  }
});
`;

interface Reply {
  id: number;
  out?: string;
  error?: string;
  /** The decoder ran out of time inside the worker: its context is dropped with the worker. */
  reset?: boolean;
}

/**
 * A TTN-style payload formatter (`function decodeUplink(input)` taking `{ bytes, fPort }` and
 * returning `{ data, warnings?, errors? }`) run in a worker thread with a time limit. A decoder that
 * throws, loops, floods microtasks or returns garbage yields an `error`; on a timeout the worker is
 * terminated and a fresh one loaded for the next frame. The gateway's event loop never runs the
 * operator's code, so nothing in it can stall or crash the adapter.
 */
export class ScriptDecoder implements Decoder {
  private worker: Worker | undefined;
  private ready: Promise<void> | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, (r: Reply) => void>();
  private readonly source: string;
  private closed = false;
  /** Workers ended because a decoder ran out of time (a fresh one serves the next frame). */
  resets = 0;

  constructor(readonly file: string, private readonly timeoutMs: number) {
    try {
      this.source = readFileSync(file, 'utf8');
    } catch (err) {
      throw new Error(`decoder script ${file}: ${(err as Error).message}`);
    }
    try {
      new Script(this.source, { filename: file });
    } catch (err) {
      throw new Error(`decoder script ${file} does not compile: ${(err as Error).message}`);
    }
  }

  /** Starts the worker and checks that the file defines decodeUplink. */
  load(): Promise<void> {
    this.ready ??= this.spawn();
    return this.ready;
  }

  private async spawn(): Promise<void> {
    const w = new Worker(WORKER_SOURCE, { eval: true, resourceLimits: { maxOldGenerationSizeMb: 32 } });
    w.unref();
    this.worker = w;
    w.on('message', (r: Reply) => {
      const done = this.pending.get(r.id);
      this.pending.delete(r.id);
      done?.(r);
    });
    const gone = (why: string) => {
      if (this.worker !== w) return;
      this.worker = undefined;
      this.ready = undefined;
      for (const [id, done] of this.pending) done({ id, error: why });
      this.pending.clear();
    };
    w.on('error', (err) => gone(`decoder worker failed: ${err.message}`));
    w.on('exit', () => gone('decoder worker exited'));
    const r = await this.call({ type: 'load', source: this.source, file: this.file }, Math.max(this.timeoutMs, 5000));
    if (r.error) {
      await this.kill();
      throw new Error(`decoder script ${this.file}: ${r.error}`);
    }
  }

  private call(msg: Record<string, unknown>, timeoutMs: number): Promise<Reply> {
    const w = this.worker;
    if (!w) return Promise.resolve({ id: 0, error: 'decoder worker not running' });
    const id = this.nextId++;
    const reset = () => {
      this.resets++;
      void this.kill();
    };
    return new Promise((resolve) => {
      // The worker enforces the limit itself; this backstop covers a worker that cannot even answer.
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve({ id, error: `timed out after ${timeoutMs} ms` });
        reset();
      }, timeoutMs + Math.max(1000, timeoutMs));
      this.pending.set(id, (r) => {
        clearTimeout(timer);
        if (r.reset) reset();
        resolve(r);
      });
      w.postMessage({ ...msg, id, timeoutMs });
    });
  }

  private async kill(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    this.ready = undefined;
    if (w) await w.terminate();
  }

  async decode(payload: Buffer, port: number): Promise<Decoded> {
    if (this.closed) return { error: `decoder ${this.file}: adapter stopping` };
    try {
      await this.load();
    } catch (err) {
      return { error: (err as Error).message };
    }
    const r = await this.call({ type: 'decode', input: JSON.stringify({ bytes: [...payload], fPort: port }) }, this.timeoutMs);
    if (r.error !== undefined) return { error: `decoder ${this.file}: ${r.error}` };
    if (typeof r.out !== 'string') return { error: `decoder ${this.file}: decodeUplink returned nothing` };
    const result = JSON.parse(r.out) as { data?: unknown; errors?: unknown } | null;
    if (Array.isArray(result?.errors) && result.errors.length) return { error: `decoder ${this.file}: ${result.errors.map(String).join('; ')}` };
    return { decoded: result?.data ?? result };
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.kill();
  }
}
