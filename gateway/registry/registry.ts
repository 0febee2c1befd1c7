import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DeviceIdentity } from '../core/message.ts';

export interface DeviceRecord {
  protocol: string;
  id: string;
  address?: string;
  username?: string;
  first_seen: number;
  last_seen: number;
  online: boolean;
}

const FILE = 'devices.json';

/** Reads the registry file a running (or stopped) gateway keeps, for `fieldgate devices`. */
export function readRegistryFile(dataDir: string): DeviceRecord[] {
  try {
    const doc = JSON.parse(readFileSync(join(dataDir, FILE), 'utf8')) as { devices?: DeviceRecord[] };
    return Array.isArray(doc.devices) ? doc.devices : [];
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new Error(`cannot read the device registry ${join(dataDir, FILE)}: ${(err as Error).message}`);
  }
}

/**
 * Every device any adapter has seen. Kept in memory, saved to `<data_dir>/devices.json` at most
 * once per `flushInterval` (an SD card wears out under a write per message) and on stop, through a
 * temp file and rename so a power cut leaves either the old or the new file.
 */
export class DeviceRegistry {
  private readonly devices = new Map<string, DeviceRecord>();
  private timer?: NodeJS.Timeout;
  private dirty = false;

  /** Called when a background save fails (the registry keeps working in memory). */
  onError?: (err: Error) => void;

  /** Devices forgotten to stay within maxDevices. */
  evicted = 0;

  constructor(
    private readonly dataDir: string,
    private readonly flushInterval = 2000,
    private readonly now: () => number = Date.now,
    /** Device ids come from the network; the bound keeps a flood of new ids from growing memory and the file. */
    private readonly maxDevices = 100_000,
  ) {}

  /**
   * Loads the saved registry; every device starts offline because no session survives a restart.
   * An unreadable file is moved aside (kept for inspection) and the registry starts empty: losing
   * first-seen dates is better than a gateway that will not start. Returns that warning, if any.
   */
  load(): string | undefined {
    mkdirSync(this.dataDir, { recursive: true });
    let saved: DeviceRecord[];
    try {
      saved = readRegistryFile(this.dataDir);
    } catch (err) {
      const aside = join(this.dataDir, `${FILE}.corrupt-${this.now()}`);
      renameSync(join(this.dataDir, FILE), aside);
      return `${(err as Error).message}; moved it to ${aside} and started an empty registry`;
    }
    for (const d of saved) {
      if (typeof d?.protocol === 'string' && typeof d?.id === 'string') this.devices.set(key(d.protocol, d.id), { ...d, online: false });
    }
    return undefined;
  }

  seen(dev: DeviceIdentity, online?: boolean): DeviceRecord {
    const k = key(dev.protocol, dev.id);
    const t = this.now();
    let rec = this.devices.get(k);
    if (rec) {
      // Re-insert so the map's order is least recently seen first, which eviction relies on.
      this.devices.delete(k);
    } else {
      rec = { protocol: dev.protocol, id: dev.id, first_seen: t, last_seen: t, online: online ?? false };
      this.makeRoom();
    }
    this.devices.set(k, rec);
    rec.last_seen = t;
    if (dev.address !== undefined) rec.address = dev.address;
    if (dev.username !== undefined) rec.username = dev.username;
    if (online !== undefined) rec.online = online;
    this.markDirty();
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
    }
  }

  get(protocol: string, id: string): DeviceRecord | undefined {
    const r = this.devices.get(key(protocol, id));
    return r && { ...r };
  }

  list(protocol?: string): DeviceRecord[] {
    const all = [...this.devices.values()].map((r) => ({ ...r }));
    return protocol ? all.filter((r) => r.protocol === protocol) : all;
  }

  get size(): number {
    return this.devices.size;
  }

  private markDirty(): void {
    this.dirty = true;
    if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        try {
          this.flush();
        } catch (err) {
          // A full disk or a read-only SD card must not take the gateway down: keep the devices in
          // memory, report, and try again on the next change.
          this.dirty = true;
          this.onError?.(err as Error);
        }
      }, this.flushInterval);
      this.timer.unref();
    }
  }

  flush(): void {
    if (!this.dirty) return;
    const tmp = join(this.dataDir, `${FILE}.tmp`);
    writeFileSync(tmp, JSON.stringify({ version: 1, devices: [...this.devices.values()] }));
    renameSync(tmp, join(this.dataDir, FILE));
    this.dirty = false;
  }

  /** Saves with every device offline: after a stop no session is open. */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (const r of this.devices.values()) r.online = false;
    this.dirty = true;
    this.flush();
  }
}

function key(protocol: string, id: string): string {
  return `${protocol}\u0000${id}`;
}
