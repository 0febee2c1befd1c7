import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { DeviceTransport } from '../core/identity.ts';

// The registry's files in <data_dir>:
//   devices.json             snapshot {version: 2, journal: G, devices: [...]}, written to a temp file,
//                            fsync'd, renamed, then the directory fsync'd (a power cut leaves old or new)
//   devices.journal.<G>      changed records since that snapshot, one JSON object per line, appended
//                            in batches and fsync'd; `{"protocol","id","deleted":true}` forgets one
// Recovery reads the snapshot, then replays every journal with a generation >= the snapshot's.
// A line that does not parse (a torn last write) is skipped and counted. Records are whole, so
// replaying a line twice changes nothing (last_seen only moves forward).

export interface DeviceRecord {
  protocol: string;
  id: string;
  /** How `address` is reached (gateway/core/identity.ts DeviceTransport); absent in records older than it. */
  transport?: DeviceTransport;
  address?: string;
  /** The datagram transport or modem the device came through ("nb0"), when not the adapter's own listener. */
  via?: string;
  username?: string;
  first_seen: number;
  last_seen: number;
  online: boolean;
}

export const SNAPSHOT = 'devices.json';
const JOURNAL = 'devices.journal.';

export interface Loaded {
  devices: Map<string, DeviceRecord>;
  /** Highest generation seen (snapshot or journal); the next one starts above it. */
  generation: number;
  /** Journal lines that did not parse (a torn tail after a crash). */
  skippedLines: number;
}

export function deviceKey(protocol: string, id: string): string {
  return `${protocol}\u0000${id}`;
}

function journalGenerations(dir: string): number[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return names
    .filter((n) => n.startsWith(JOURNAL) && /^\d+$/.test(n.slice(JOURNAL.length)))
    .map((n) => Number(n.slice(JOURNAL.length)))
    .sort((a, b) => a - b);
}

function isRecord(d: unknown): d is DeviceRecord {
  const r = d as DeviceRecord;
  return typeof r?.protocol === 'string' && typeof r?.id === 'string' && typeof r.first_seen === 'number' && typeof r.last_seen === 'number';
}

/** Reads the snapshot (missing = empty). Throws a message naming the file when it is not a registry. */
function readSnapshot(dir: string): { generation: number; devices: DeviceRecord[] } {
  const file = join(dir, SNAPSHOT);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { generation: 0, devices: [] };
    throw new Error(`cannot read the device registry ${file}: ${(err as Error).message}`);
  }
  try {
    const doc = JSON.parse(text) as { journal?: number; devices?: unknown[] };
    const devices = Array.isArray(doc.devices) ? doc.devices.filter(isRecord) : [];
    return { generation: typeof doc.journal === 'number' ? doc.journal : 0, devices };
  } catch (err) {
    throw new Error(`cannot read the device registry ${file}: ${(err as Error).message}`);
  }
}

function apply(devices: Map<string, DeviceRecord>, line: unknown): boolean {
  const r = line as DeviceRecord & { deleted?: boolean };
  if (typeof r?.protocol !== 'string' || typeof r?.id !== 'string') return false;
  const k = deviceKey(r.protocol, r.id);
  if (r.deleted === true) {
    devices.delete(k);
    return true;
  }
  if (!isRecord(r)) return false;
  const prev = devices.get(k);
  const rec: DeviceRecord = { protocol: r.protocol, id: r.id, first_seen: r.first_seen, last_seen: r.last_seen, online: r.online === true };
  if (typeof r.transport === 'string') rec.transport = r.transport;
  if (r.address !== undefined) rec.address = r.address;
  if (typeof r.via === 'string') rec.via = r.via;
  if (r.username !== undefined) rec.username = r.username;
  if (prev) {
    rec.first_seen = Math.min(prev.first_seen, rec.first_seen);
    rec.last_seen = Math.max(prev.last_seen, rec.last_seen);
  }
  devices.set(k, rec);
  return true;
}

/**
 * The registry as saved: snapshot plus journals. Read-only (the `fieldgate devices` command uses it
 * on a running gateway's directory). Throws, naming the file, only for an unreadable snapshot.
 */
export function loadRegistry(dir: string): Loaded {
  const snap = readSnapshot(dir);
  const devices = new Map<string, DeviceRecord>();
  for (const d of snap.devices) apply(devices, d);
  let generation = snap.generation;
  let skippedLines = 0;
  for (const g of journalGenerations(dir)) {
    generation = Math.max(generation, g);
    if (g < snap.generation) continue; // already in the snapshot (left by a crash before its unlink)
    const text = readFileSync(join(dir, JOURNAL + g), 'utf8');
    for (const line of text.split('\n')) {
      if (!line) continue;
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        skippedLines++;
        continue;
      }
      if (!apply(devices, parsed)) skippedLines++;
    }
  }
  return { devices, generation, skippedLines };
}

export function journalLine(rec: DeviceRecord | { protocol: string; id: string; deleted: true }): string {
  return `${JSON.stringify(rec)}\n`;
}

function snapshotHead(generation: number): string {
  return `{"version":2,"journal":${generation},"devices":[`;
}

/** Removes journals older than `generation` (they are in the snapshot now). */
function dropJournalsBelow(dir: string, generation: number): void {
  for (const g of journalGenerations(dir)) {
    if (g < generation) {
      try {
        unlinkSync(join(dir, JOURNAL + g));
      } catch {
        // Harmless: recovery ignores journals older than the snapshot.
      }
    }
  }
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Synchronous snapshot (start after recovery, clean stop): the event loop is not serving then. */
export function writeSnapshotSync(dir: string, generation: number, records: Iterable<DeviceRecord>): number {
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `${SNAPSHOT}.tmp`);
  const parts: string[] = [];
  for (const r of records) parts.push(JSON.stringify(r));
  const text = `${snapshotHead(generation)}${parts.join(',')}]}\n`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, join(dir, SNAPSHOT));
  fsyncDir(dir);
  dropJournalsBelow(dir, generation);
  return Buffer.byteLength(text);
}

/**
 * The hourly snapshot, off the hot path: records are serialised in slices with a yield between
 * them and written with asynchronous I/O, so 100k devices never block the event loop for long.
 * Returns the bytes written (0 when `abandoned()` said to drop it).
 */
export async function writeSnapshot(dir: string, generation: number, records: readonly DeviceRecord[], abandoned: () => boolean, slice = 2000): Promise<number> {
  // Its own temp file: the synchronous snapshot at stop may run while this one is in flight.
  const tmp = join(dir, `${SNAPSHOT}.tmp-async`);
  const fh = await open(tmp, 'w');
  let bytes = 0;
  try {
    const write = async (s: string) => {
      bytes += Buffer.byteLength(s);
      await fh.write(s);
    };
    await write(snapshotHead(generation));
    for (let i = 0; i < records.length; i += slice) {
      const part = records.slice(i, i + slice).map((r) => JSON.stringify(r)).join(',');
      await write(i === 0 ? part : `,${part}`);
    }
    await write(']}\n');
    await fh.sync();
  } finally {
    await fh.close();
  }
  // Checked and renamed in one synchronous step: a stop's newer snapshot is never replaced by this one.
  if (abandoned()) {
    unlinkSync(tmp);
    return 0;
  }
  renameSync(tmp, join(dir, SNAPSHOT));
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
  dropJournalsBelow(dir, generation);
  return bytes;
}

/** Appends lines to journal `generation` and fsyncs them. Returns the bytes written. */
export async function appendJournal(dir: string, generation: number, text: string): Promise<number> {
  const fh = await open(join(dir, JOURNAL + generation), 'a');
  try {
    await fh.write(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  return Buffer.byteLength(text);
}
