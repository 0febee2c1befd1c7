import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { Pos } from './store.ts';

// Two small files next to the lanes. meta.json is written once (and when an upstream is added):
// the log's epoch, which makes message ids unique even if the data directory is wiped, and each
// upstream's bit in the record mask, kept stable across config edits. checkpoint.json holds each
// consumer's acknowledged position; it is replaced atomically (write, fsync, rename, fsync dir).

export interface Meta {
  epoch: string;
  bits: Record<string, number>;
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function writeAtomicSync(file: string, text: string): void {
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeFileSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  fsyncDir(join(file, '..'));
}

function readJson<T>(file: string): T | undefined {
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/** Loads meta.json, assigning bits to upstreams it has not seen; frees bits of removed upstreams. */
export function loadMeta(dir: string, upstreams: string[]): { meta: Meta; notes: string[] } {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'meta.json');
  const notes: string[] = [];
  const found = readJson<Meta>(file);
  if (existsSync(file) && !found) notes.push(`${file} was unreadable: started a new epoch (message ids change; queued messages keep their place)`);
  const meta: Meta = found && typeof found.epoch === 'string' ? found : { epoch: randomBytes(4).toString('hex'), bits: {} };
  const bits: Record<string, number> = {};
  for (const name of upstreams) if (meta.bits[name] !== undefined) bits[name] = meta.bits[name];
  for (const name of upstreams) {
    if (bits[name] !== undefined) continue;
    let b = 0;
    while (Object.values(bits).includes(b)) b++;
    bits[name] = b;
  }
  const changed = JSON.stringify(bits) !== JSON.stringify(meta.bits) || !found;
  meta.bits = bits;
  if (changed) writeAtomicSync(file, `${JSON.stringify(meta, null, 2)}\n`);
  return { meta, notes };
}

export type Checkpoint = Record<string, Pos>;

export interface SavedState {
  positions: Checkpoint;
  /** Per lane, the seq the next record was to get when the checkpoint was saved. */
  next: Record<string, number>;
  /** Set when checkpoint.json exists but cannot be used: what happened and what was done. */
  problem?: string;
}

function validPos(p: unknown): p is Pos {
  const o = p as Pos;
  return !!o && typeof o === 'object' && [o.seq, o.seg, o.off].every((n) => Number.isSafeInteger(n) && n >= 0);
}

/**
 * Reads checkpoint.json. A file that exists but does not parse (or holds nonsense positions) is
 * moved aside, not ignored: without it every upstream resends from the oldest record, and the
 * operator must be told why.
 */
export function loadCheckpoint(dir: string): SavedState {
  const file = join(dir, 'checkpoint.json');
  if (!existsSync(file)) return { positions: {}, next: {} };
  let why: string;
  try {
    const doc = JSON.parse(readFileSync(file, 'utf8')) as { positions?: unknown; next?: unknown };
    const positions = doc.positions as Record<string, unknown> | undefined;
    if (positions && typeof positions === 'object' && Object.values(positions).every(validPos)) {
      const next: Record<string, number> = {};
      for (const [k, v] of Object.entries((doc.next ?? {}) as Record<string, unknown>)) if (Number.isSafeInteger(v) && (v as number) >= 0) next[k] = v as number;
      return { positions: positions as Checkpoint, next };
    }
    why = 'it holds no valid positions';
  } catch (err) {
    why = `it is unreadable (${(err as Error).message})`;
  }
  const aside = `${file}.corrupt-${Date.now()}`;
  try {
    renameSync(file, aside);
  } catch {
    /* keep it where it is; the next save replaces it */
  }
  return { positions: {}, next: {}, problem: `${file} was not used: ${why}; moved aside to ${aside}. Every upstream resends from the oldest queued message (the cloud sees duplicates, with the same fg-id)` };
}

/** Replaces checkpoint.json without blocking the event loop on the fsyncs. */
export async function saveCheckpoint(dir: string, positions: Checkpoint, next: Record<string, number>): Promise<void> {
  const file = join(dir, 'checkpoint.json');
  const tmp = `${file}.tmp`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(`${JSON.stringify({ positions, next, saved_at: new Date().toISOString() })}\n`);
    await fh.datasync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}
