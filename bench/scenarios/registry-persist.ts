import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { DeviceRegistry, type DeviceRecord } from '../../gateway/registry/registry.ts';
import { withRatio, type Result, type Scenario } from '../result.ts';

// Issue 11 item 5: what the device registry writes per day and how long it blocks the event loop,
// at DEVICES devices each publishing once a minute (1 % of messages from a new address), for
// WINDOW_MS of real time with real timers.
//
// Baseline: the registry as it was on main before the journal (commit 096a8f2), whose persistence
// is reimplemented verbatim below (`LegacyRegistry`): every 2 s while anything was seen, the whole
// devices.json is written with writeFileSync to a temp file and renamed (no fsync).
//
// Bytes per day: baseline = bytes written in the window scaled to 24 h. New = journal bytes in
// the window scaled to 24 h, plus 24 hourly snapshots (one is taken in the window and measured).

const SIZES = (process.env.BENCH_REGISTRY_DEVICES ?? '10000,100000').split(',').map(Number);
const WINDOW_MS = Number(process.env.BENCH_REGISTRY_WINDOW_MS ?? 6_000);
/** Runs per variant, interleaved; the stall reported is the smallest of the runs' longest stalls,
 * because another process taking the CPU adds a random stall to one run, while a stall the code
 * causes shows up in every run. */
const REPEAT = Number(process.env.BENCH_REGISTRY_REPEAT ?? 3);
const TICK_MS = 10;
const DAY = 86_400_000;

class LegacyRegistry {
  readonly devices = new Map<string, DeviceRecord>();
  private timer?: NodeJS.Timeout;
  private dirty = false;
  bytesWritten = 0;
  constructor(private readonly dataDir: string) {}

  seen(dev: { protocol: string; id: string; address?: string }): void {
    const k = `${dev.protocol}\u0000${dev.id}`;
    const t = Date.now();
    let rec = this.devices.get(k);
    if (rec) this.devices.delete(k);
    else rec = { protocol: dev.protocol, id: dev.id, first_seen: t, last_seen: t, online: false };
    this.devices.set(k, rec);
    rec.last_seen = t;
    if (dev.address !== undefined) rec.address = dev.address;
    this.dirty = true;
    if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.flush();
      }, 2000);
    }
  }

  flush(): void {
    if (!this.dirty) return;
    const tmp = join(this.dataDir, 'devices.json.tmp');
    const text = JSON.stringify({ version: 1, devices: [...this.devices.values()] });
    writeFileSync(tmp, text);
    renameSync(tmp, join(this.dataDir, 'devices.json'));
    this.bytesWritten += Buffer.byteLength(text);
    this.dirty = false;
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
  }
}

interface Run {
  bytesInWindow: number;
  snapshotBytes: number;
  maxStallMs: number;
}

/** Drives `seen` at the workload's rate for the window; `during` runs once halfway. */
async function drive(DEVICES: number, seen: (dev: { protocol: string; id: string; address?: string }) => void, during?: () => Promise<void>): Promise<number> {
  for (let i = 0; i < DEVICES; i++) seen({ protocol: 'bench', id: `dev-${i}`, address: `10.${i >> 8}.${i & 255}.1:5683` });
  const perTick = (DEVICES / 60_000) * TICK_MS;
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  let n = 0;
  let carry = 0;
  const start = Date.now();
  let midway: Promise<void> | undefined;
  await new Promise<void>((resolve) => {
    const iv = setInterval(() => {
      carry += perTick;
      for (; carry >= 1; carry--, n++) {
        const i = n % DEVICES;
        const moved = n % 100 === 0;
        seen({ protocol: 'bench', id: `dev-${i}`, address: moved ? `10.${i >> 8}.${i & 255}.${2 + (n % 200)}:5683` : `10.${i >> 8}.${i & 255}.1:5683` });
      }
      if (during && !midway && Date.now() - start >= WINDOW_MS / 2) midway = during();
      if (Date.now() - start >= WINDOW_MS) {
        clearInterval(iv);
        resolve();
      }
    }, TICK_MS);
  });
  await midway;
  h.disable();
  return h.max / 1e6;
}

async function legacy(DEVICES: number, dir: string): Promise<Run> {
  const reg = new LegacyRegistry(dir);
  const seen = (d: { protocol: string; id: string; address?: string }) => reg.seen(d);
  // The initial burst of new devices is written once before the window, as the old code would have.
  for (let i = 0; i < DEVICES; i++) seen({ protocol: 'bench', id: `dev-${i}`, address: `10.${i >> 8}.${i & 255}.1:5683` });
  reg.flush();
  reg.bytesWritten = 0;
  const maxStallMs = await drive(DEVICES, seen);
  reg.close();
  return { bytesInWindow: reg.bytesWritten, snapshotBytes: 0, maxStallMs };
}

async function journaled(DEVICES: number, dir: string): Promise<Run> {
  const reg = new DeviceRegistry(dir, 2000, Date.now, 100_000);
  reg.load();
  for (let i = 0; i < DEVICES; i++) reg.seen({ protocol: 'bench', id: `dev-${i}`, address: `10.${i >> 8}.${i & 255}.1:5683` });
  await reg.sync();
  await reg.compact(); // as the seeding's journal would have triggered: the window starts after it
  reg.bytesWritten = 0;
  let snapshotBytes = 0;
  const maxStallMs = await drive(
    DEVICES,
    (d) => reg.seen(d),
    async () => {
      const before = reg.bytesWritten;
      await reg.compact();
      snapshotBytes = reg.bytesWritten - before;
    },
  );
  await reg.sync();
  const bytesInWindow = reg.bytesWritten - snapshotBytes;
  reg.close();
  return { bytesInWindow, snapshotBytes, maxStallMs };
}

/** The longest stall with nothing to do: what this machine adds on its own (other processes). */
async function idleStall(): Promise<number> {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  await new Promise((r) => setTimeout(r, WINDOW_MS));
  h.disable();
  return h.max / 1e6;
}

async function measure(devices: number): Promise<Result[]> {
  const olds: Run[] = [];
  const nows: Run[] = [];
  for (let i = 0; i < REPEAT; i++) {
    const dirs = [mkdtempSync(join(tmpdir(), 'fieldgate-bench-reg-old-')), mkdtempSync(join(tmpdir(), 'fieldgate-bench-reg-new-'))] as const;
    try {
      olds.push(await legacy(devices, dirs[0]));
      nows.push(await journaled(devices, dirs[1]));
    } finally {
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    }
  }
  const least = (runs: Run[]): Run => ({ ...runs[runs.length - 1]!, maxStallMs: Math.min(...runs.map((r) => r.maxStallMs)) });
  const old = least(olds);
  const now = least(nows);
  const perDay = (r: Run, snapshotsPerDay: number) => Math.round((r.bytesInWindow * DAY) / WINDOW_MS + r.snapshotBytes * snapshotsPerDay);
  const mb = (b: number) => Math.round(b / 1e4) / 100;
  return [
    withRatio({ scenario: 'registry-persist', metric: `bytes_written_per_day_${devices}_devices`, value: mb(perDay(now, 24)), unit: 'MB/day', baseline: mb(perDay(old, 0)), means: 'bytes a day written by the journal + 24 hourly snapshots / by the old whole-file rewrite every 2 s (reimplemented in the scenario), same window scaled to 24 h; lower is better' }),
    withRatio({ scenario: 'registry-persist', metric: `longest_event_loop_stall_${devices}_devices`, value: Math.round(now.maxStallMs * 10) / 10, unit: 'ms', baseline: Math.round(old.maxStallMs * 10) / 10, means: 'longest event-loop stall (least of the runs) with the journal / with the old whole-file rewrite; lower is better' }),
    { scenario: 'registry-persist', metric: `snapshot_size_${devices}_devices`, value: mb(now.snapshotBytes), unit: 'MB' },
  ];
}

export const scenario: Scenario = {
  name: 'registry-persist',
  description: `device registry at ${SIZES.join(' and ')} devices, one message per device per minute, ${REPEAT} x ${WINDOW_MS / 1000} s windows (stall: least of the runs' longest): journal + hourly snapshot vs the old whole-file rewrite every 2 s (old main code's flush reimplemented verbatim in the scenario as the baseline)`,
  async run(): Promise<Result[]> {
    const out: Result[] = [];
    for (const n of SIZES) out.push(...(await measure(n)));
    out.push({ scenario: 'registry-persist', metric: 'idle_event_loop_stall (noise floor)', value: Math.round((await idleStall()) * 10) / 10, unit: 'ms' });
    return out;
  },
};
