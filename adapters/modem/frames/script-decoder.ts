import { readFileSync } from 'node:fs';
import { Script } from 'node:vm';
import { AsyncSandbox, NoEntryError } from '../../lib/sandbox/sandbox.ts';
import type { Decoded, Decoder } from './decoder.ts';

/** The worker's heap limit (MB). */
const MEMORY_MB = 32;

/**
 * A TTN-style payload formatter (`function decodeUplink(input)` taking `{ bytes, fPort }` and
 * returning `{ data, warnings?, errors? }`) run in a worker thread (adapters/lib/sandbox) with a
 * CPU time limit and a heap limit. A decoder that throws, loops, floods microtasks, allocates
 * without bound or returns garbage yields an `error`; a stopped worker is replaced by a fresh one
 * for the next frame. The gateway's event loop never runs the operator's code, so nothing in it
 * can stall or crash the adapter.
 */
export class ScriptDecoder implements Decoder {
  private readonly sandbox: AsyncSandbox;
  private closed = false;

  constructor(readonly file: string, private readonly timeoutMs: number) {
    let source: string;
    try {
      source = readFileSync(file, 'utf8');
    } catch (err) {
      throw new Error(`decoder script ${file}: ${(err as Error).message}`);
    }
    try {
      new Script(source, { filename: file });
    } catch (err) {
      throw new Error(`decoder script ${file} does not compile: ${(err as Error).message}`);
    }
    const entry = "typeof decodeUplink === 'function' ? decodeUplink : undefined";
    this.sandbox = new AsyncSandbox({ file, source, entry, timeLimitMs: timeoutMs, loadLimitMs: Math.max(timeoutMs, 5000), memoryMb: MEMORY_MB });
  }

  /** Workers ended because a decoder ran out of time or memory (a fresh one serves the next frame). */
  get resets(): number {
    return this.sandbox.resets;
  }

  /** Starts the worker and checks that the file defines decodeUplink. */
  async load(): Promise<void> {
    try {
      await this.sandbox.load();
    } catch (err) {
      const why = err instanceof NoEntryError ? 'does not define function decodeUplink(input)' : (err as Error).message;
      throw new Error(`decoder script ${this.file}: ${why}`);
    }
  }

  async decode(payload: Buffer, port: number): Promise<Decoded> {
    if (this.closed) return { error: `decoder ${this.file}: adapter stopping` };
    try {
      await this.load();
    } catch (err) {
      return { error: (err as Error).message };
    }
    const o = await this.sandbox.call(JSON.stringify({ bytes: [...payload], fPort: port }));
    const fail = (why: string): Decoded => ({ error: `decoder ${this.file}: ${why}` });
    if (o.kind === 'stopped') return fail(o.reason === 'time' ? `timed out after ${this.timeoutMs} ms of CPU time` : `went over its ${MEMORY_MB} MB memory limit`);
    if (o.kind === 'threw') return fail(o.message);
    if (o.kind === 'promise') return fail('decodeUplink returned a Promise; it must return its result');
    const result = JSON.parse(o.json) as { data?: unknown; errors?: unknown } | null;
    if (result === null) return fail('decodeUplink returned nothing');
    if (Array.isArray(result.errors) && result.errors.length) return fail(result.errors.map(String).join('; '));
    return { decoded: result.data ?? result };
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.sandbox.close();
  }
}
