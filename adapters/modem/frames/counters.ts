import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

export type CounterVerdict = 'ok' | 'duplicate' | 'replay';

/**
 * The last accepted frame counter per node. A counter equal to the last one is a duplicate (the same
 * packet heard twice); a lower one is a replay. Optionally kept in a file, so a restart does not
 * reopen the window for replaying old frames.
 */
export class CounterStore {
  private readonly last = new Map<number, number>();
  private dirty = false;

  constructor(private readonly file?: string) {
    if (!file) return;
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new Error(`cannot read the LoRa frame counter file ${file}: ${(err as Error).message}`);
    }
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      throw new Error(`the LoRa frame counter file ${file} is not JSON (${(err as Error).message}): fix or delete it`);
    }
    for (const [k, v] of Object.entries(doc as Record<string, unknown>)) {
      if (/^[0-9a-f]{8}$/.test(k) && typeof v === 'number') this.last.set(parseInt(k, 16), v);
    }
  }

  check(nodeId: number, counter: number): CounterVerdict {
    const last = this.last.get(nodeId);
    if (last === undefined || counter > last) return 'ok';
    return counter === last ? 'duplicate' : 'replay';
  }

  accept(nodeId: number, counter: number): void {
    this.last.set(nodeId, counter);
    this.dirty = true;
  }

  /** Forgets a node's last counter (an operator's kick): its next frame is accepted whatever its counter. */
  forget(nodeId: number): boolean {
    const had = this.last.delete(nodeId);
    if (had) this.dirty = true;
    return had;
  }

  lastOf(nodeId: number): number | undefined {
    return this.last.get(nodeId);
  }

  /** Writes the file if anything changed: temp file, fsync, rename, fsync of the directory, so a power cut leaves the old or the new file. */
  save(): void {
    if (!this.file || !this.dirty) return;
    const doc: Record<string, number> = {};
    for (const [id, c] of this.last) doc[id.toString(16).padStart(8, '0')] = c;
    mkdirSync(dirname(this.file), { recursive: true });
    writeDurably(this.file, `${JSON.stringify(doc)}\n`);
    this.dirty = false;
  }
}

/** Atomic and durable replacement of a small file (shared with the duty-cycle ledger). */
export function writeDurably(file: string, text: string): void {
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  try {
    const dir = openSync(dirname(file), 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  } catch {
    // Some filesystems refuse fsync on a directory; the rename is still atomic.
  }
}
