import { mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { DeviceIdentity } from '../core/identity.ts';
import { appendJournal, deviceKey, journalLine, loadRegistry, SNAPSHOT, writeSnapshot, writeSnapshotSync, type DeviceRecord } from './store.ts';

export type { DeviceRecord } from './store.ts';

/** Reads the registry a running (or stopped) gateway keeps, for `fieldgate devices`: snapshot plus journal. */
export function readRegistryFile(dataDir: string): DeviceRecord[] {
  return [...loadRegistry(dataDir).devices.values()];
}

export interface RegistryPersistence {
  /** Snapshot (and journal truncation) period. Last-seen times on disk are at most this old after a crash. */
  compactInterval?: number;
  /** A snapshot is also taken when the journal grows beyond this many bytes (a churn of new ids). */
  maxJournalBytes?: number;
}

type Change = 'new' | 'changed' | 'deleted';

/** A DeviceIdentity; the transport may be missing in callers that only count devices (benchmarks, tests). */
export type SeenDevice = Omit<DeviceIdentity, 'transport'> & Partial<Pick<DeviceIdentity, 'transport'>>;

function setAddress(rec: DeviceRecord, dev: SeenDevice): void {
  rec.address = dev.address;
  if (dev.transport !== undefined) rec.transport = dev.transport;
  if (dev.via !== undefined) rec.via = dev.via;
  else delete rec.via;
}

/**
 * Every device any adapter has seen, kept in memory. `seen` (called per message) only updates
 * memory: last-seen times reach the disk with the hourly snapshot, so they are coarse after a
 * crash. What matters more (a new device, a new address or user name, online/offline) is appended
 * to a journal in batches at most every `flushInterval`, fsync'd. Both writes use asynchronous I/O,
 * so the event loop never waits for the SD card (gateway/registry/store.ts has the file format).
 */
export class DeviceRegistry {
  private readonly devices = new Map<string, DeviceRecord>();
  private readonly dirty = new Map<string, Change>();
  private timer?: NodeJS.Timeout;
  private compactTimer?: NodeJS.Timeout;
  /** Every write runs on this chain, one at a time, in order. */
  private io: Promise<void> = Promise.resolve();
  private generation = 0;
  private journalBytes = 0;
  private snapshotBytes = 0;
  private failing = false;
  private compacting?: Promise<void>;
  private closed = false;
  private readonly compactInterval: number;
  private readonly maxJournalBytes: number;

  /** Called when a save fails after the last one succeeded (once per outage, not per retry). */
  onError?: (err: Error) => void;

  /** Devices forgotten to stay within maxDevices. */
  evicted = 0;
  /** Bytes written to the journal and snapshots since start (the bench reports it per day). */
  bytesWritten = 0;

  constructor(
    private readonly dataDir: string,
    private readonly flushInterval = 2000,
    private readonly now: () => number = Date.now,
    /** Device ids come from the network; the bound keeps a flood of new ids from growing memory and the files. */
    private readonly maxDevices = 100_000,
    persistence: RegistryPersistence = {},
  ) {
    this.compactInterval = persistence.compactInterval ?? 3_600_000;
    this.maxJournalBytes = persistence.maxJournalBytes ?? 4 * 1024 * 1024;
  }

  /**
   * Loads the saved registry (snapshot, then journal); every device starts offline because no
   * session survives a restart. Writes a fresh snapshot so the journal starts empty (a torn last
   * line is left behind in the old one). An unreadable snapshot is moved aside (kept for
   * inspection) and the registry starts from the journal alone: losing first-seen dates is better
   * than a gateway that will not start. Returns the warnings, if any.
   */
  load(): string | undefined {
    mkdirSync(this.dataDir, { recursive: true });
    const warnings: string[] = [];
    let loaded;
    try {
      loaded = loadRegistry(this.dataDir);
    } catch (err) {
      const aside = join(this.dataDir, `${SNAPSHOT}.corrupt-${this.now()}`);
      renameSync(join(this.dataDir, SNAPSHOT), aside);
      loaded = loadRegistry(this.dataDir);
      warnings.push(`${(err as Error).message}; moved it to ${aside} and started ${loaded.devices.size ? `from the journal (${loaded.devices.size} devices)` : 'an empty registry'}`);
    }
    if (loaded.skippedLines) warnings.push(`device registry: skipped ${loaded.skippedLines} unreadable journal line(s) in ${this.dataDir} (a write cut short by a crash or power cut)`);
    // Least recently seen first: eviction walks the map in insertion order.
    for (const r of [...loaded.devices.values()].sort((a, b) => a.last_seen - b.last_seen)) {
      this.devices.set(deviceKey(r.protocol, r.id), { ...r, online: false });
    }
    this.generation = loaded.generation + 1;
    try {
      this.snapshotBytes = writeSnapshotSync(this.dataDir, this.generation, this.devices.values());
      this.bytesWritten += this.snapshotBytes;
    } catch (err) {
      warnings.push(`cannot save the device registry in ${this.dataDir}: ${(err as Error).message}; devices are kept in memory and saving is retried`);
      this.failing = true;
    }
    this.compactTimer = setInterval(() => void this.compact(), this.compactInterval);
    this.compactTimer.unref();
    return warnings.length ? warnings.join('; ') : undefined;
  }

  /**
   * Records a device as seen now. Its transport and `via` describe its address, so they are taken
   * together with it: an identity without an address (a session closed by the gateway) changes none
   * of them, and a device that moved from a modem to the LAN loses its `via`.
   */
  seen(dev: SeenDevice, online?: boolean): DeviceRecord {
    const k = deviceKey(dev.protocol, dev.id);
    const t = this.now();
    let rec = this.devices.get(k);
    let change: Change | undefined;
    if (rec) {
      // Re-insert so the map's order is least recently seen first, which eviction relies on.
      this.devices.delete(k);
      if ((dev.address !== undefined && (dev.address !== rec.address || dev.via !== rec.via || (dev.transport !== undefined && dev.transport !== rec.transport))) || (dev.username !== undefined && dev.username !== rec.username) || (online !== undefined && online !== rec.online)) change = 'changed';
    } else {
      rec = { protocol: dev.protocol, id: dev.id, first_seen: t, last_seen: t, online: online ?? false };
      this.makeRoom();
      change = 'new';
    }
    this.devices.set(k, rec);
    rec.last_seen = t;
    if (dev.address !== undefined) setAddress(rec, dev);
    if (dev.username !== undefined) rec.username = dev.username;
    if (online !== undefined) rec.online = online;
    if (change) this.markDirty(k, change);
    return rec;
  }

  /** Forgets the least recently seen offline devices until one more fits. */
  private makeRoom(): void {
    if (this.devices.size < this.maxDevices) return;
    for (const [k, r] of this.devices) {
      if (this.devices.size < this.maxDevices) return;
      if (r.online) continue;
      this.devices.delete(k);
      this.evicted++;
      this.markDirty(k, 'deleted');
    }
  }

  get(protocol: string, id: string): DeviceRecord | undefined {
    const r = this.devices.get(deviceKey(protocol, id));
    return r && { ...r };
  }

  list(protocol?: string): DeviceRecord[] {
    const all = [...this.devices.values()].map((r) => ({ ...r }));
    return protocol ? all.filter((r) => r.protocol === protocol) : all;
  }

  get size(): number {
    return this.devices.size;
  }

  private markDirty(k: string, change: Change): void {
    const prev = this.dirty.get(k);
    if (change === 'deleted' && prev === 'new') this.dirty.delete(k); // never reached the disk
    else if (change === 'new' && prev === 'deleted') this.dirty.set(k, 'changed');
    else if (prev !== 'new' || change === 'deleted') this.dirty.set(k, change);
    this.schedule();
  }

  private schedule(): void {
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.sync();
    }, this.flushInterval);
    this.timer.unref();
  }

  /** Appends what changed to the journal now; resolves once it is fsync'd (or the write failed). */
  sync(): Promise<void> {
    return this.enqueue(() => this.appendChanges());
  }

  /** Runs `op` after every earlier write; a failure is reported and never stops later writes. */
  private enqueue(op: () => Promise<void>): Promise<void> {
    this.io = this.io.then(op).catch((err: unknown) => this.failed(err as Error));
    return this.io;
  }

  private async appendChanges(): Promise<void> {
    if (this.dirty.size === 0 || this.closed) return;
    const batch = new Map(this.dirty);
    this.dirty.clear();
    let text = '';
    for (const [k, change] of batch) {
      const rec = this.devices.get(k);
      if (change === 'deleted' || !rec) {
        const [protocol, id] = k.split('\u0000') as [string, string];
        text += journalLine({ protocol, id, deleted: true });
      } else text += journalLine(rec);
    }
    try {
      const n = await appendJournal(this.dataDir, this.generation, text);
      this.bytesWritten += n;
      this.journalBytes += n;
      this.failing = false;
    } catch (err) {
      // The file may now end in a partial line: later batches go to a fresh journal, and these
      // changes are retried unless newer ones replaced them.
      this.generation++;
      for (const [k, change] of batch) if (!this.dirty.has(k)) this.dirty.set(k, change);
      this.failed(err as Error);
      this.schedule();
      return;
    }
    if (this.journalBytes > Math.max(this.maxJournalBytes, this.snapshotBytes)) void this.compact();
  }

  /** Starts a snapshot on the write chain; journals older than it are removed once it is durable. */
  compact(): Promise<void> {
    // One at a time: on a slow card a snapshot can outlast the interval, and queued ones would pile up.
    if (this.compacting) return this.compacting;
    this.compacting = this.enqueue(() => this.writeCompacted()).finally(() => (this.compacting = undefined));
    return this.compacting;
  }

  private async writeCompacted(): Promise<void> {
    if (this.closed) return;
    // Changes from here on go to the next journal, which recovery replays on top of this snapshot.
    const generation = ++this.generation;
    this.journalBytes = 0;
    try {
      const bytes = await writeSnapshot(this.dataDir, generation, [...this.devices.values()], () => this.closed);
      this.bytesWritten += bytes;
      if (bytes) this.snapshotBytes = bytes;
      this.failing = false;
    } catch (err) {
      this.failed(err as Error);
    }
  }

  private failed(err: Error): void {
    if (this.failing) return;
    this.failing = true;
    this.onError?.(err);
  }

  /** Saves a snapshot with every device offline (after a stop no session is open) and stops writing. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.compactTimer) clearInterval(this.compactTimer);
    this.timer = this.compactTimer = undefined;
    for (const r of this.devices.values()) r.online = false;
    this.dirty.clear();
    // Synchronous: a snapshot still in flight checks `closed` before its rename, so it cannot replace this one.
    try {
      this.bytesWritten += writeSnapshotSync(this.dataDir, ++this.generation, this.devices.values());
    } catch (err) {
      this.failing = false; // the last chance to save: always say so
      this.failed(err as Error);
    }
  }
}
