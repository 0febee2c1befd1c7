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

export function loadCheckpoint(dir: string): Checkpoint {
  return readJson<{ positions: Checkpoint }>(join(dir, 'checkpoint.json'))?.positions ?? {};
}

/** Replaces checkpoint.json without blocking the event loop on the fsyncs. */
export async function saveCheckpoint(dir: string, positions: Checkpoint): Promise<void> {
  const file = join(dir, 'checkpoint.json');
  const tmp = `${file}.tmp`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(`${JSON.stringify({ positions, saved_at: new Date().toISOString() })}\n`);
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
