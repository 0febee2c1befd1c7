import { accessSync, closeSync, constants, fsyncSync, openSync, statSync, statfsSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Check, DoctorContext, Finding } from './types.ts';

const MiB = 1024 * 1024;

/** The nearest existing ancestor of `path` (itself if it exists). */
function existingAncestor(path: string): string {
  let p = resolve(path);
  for (;;) {
    try {
      statSync(p);
      return p;
    } catch {
      const up = dirname(p);
      if (up === p) return p;
      p = up;
    }
  }
}

const owner = 'sudo chown -R fieldgate:fieldgate';

/** Writes, fsyncs and removes a probe file: the gateway's registry and bridge log do exactly that. */
function probeWritable(dir: string): string | undefined {
  const probe = join(dir, `.fieldgate-doctor-${process.pid}`);
  try {
    const fd = openSync(probe, 'w');
    try {
      writeSync(fd, 'probe');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    unlinkSync(probe);
    return undefined;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? String(err);
  }
}

function writable(dir: string, what: string): Finding {
  let st;
  try {
    st = statSync(dir);
  } catch {
    // Missing is fine if the gateway can create it.
    const parent = existingAncestor(dir);
    if (!statSync(parent).isDirectory()) {
      return { check: 'data-dir', status: 'fail', message: `${what} ${dir} cannot be created: ${parent} is a file, not a directory`, fix: `point it somewhere else, or remove ${parent}` };
    }
    try {
      accessSync(parent, constants.W_OK | constants.X_OK);
      return { check: 'data-dir', status: 'ok', message: `${what} ${dir} does not exist yet; it will be created under ${parent}` };
    } catch {
      return { check: 'data-dir', status: 'fail', message: `${what} ${dir} does not exist and ${parent} is not writable by this user`, fix: `sudo install -d -o fieldgate -g fieldgate -m 0750 ${dir}` };
    }
  }
  if (!st.isDirectory()) {
    return { check: 'data-dir', status: 'fail', message: `${what} ${dir} exists but is not a directory`, fix: `remove or rename ${dir}, or change gateway.data_dir` };
  }
  const code = probeWritable(dir);
  if (code) {
    const fix = code === 'EROFS' ? 'the filesystem is read-only (overlay root or a failing SD card?): remount it read-write or move the data directory' : `${owner} ${dir} (or run doctor as the user the service runs as)`;
    return { check: 'data-dir', status: 'fail', message: `${what} ${dir} is not writable (${code})`, fix };
  }
  return { check: 'data-dir', status: 'ok', message: `${what} ${dir} is writable` };
}

function fmt(bytes: number): string {
  return bytes >= 1024 * MiB ? `${(bytes / 1024 / MiB).toFixed(1)} GiB` : `${Math.round(bytes / MiB)} MiB`;
}

interface BridgeView {
  queue?: { dir?: string; storage?: string; max_bytes?: number };
  upstreams?: unknown[];
}

/**
 * Free space against the bridge log's bound. Read defensively: the `bridge` section belongs to the
 * bridge, and an older config schema may not have it.
 */
function freeSpace(dataDir: string, bridge: BridgeView | undefined): Finding {
  const queueDir = resolve(bridge?.queue?.dir ?? join(dataDir, 'bridge'));
  const at = existingAncestor(queueDir);
  let free: number;
  try {
    const s = statfsSync(at);
    free = s.bavail * s.bsize;
  } catch (err) {
    return { check: 'disk', status: 'warn', message: `cannot read free space of ${at}: ${(err as Error).message}` };
  }
  const bridgeOn = (bridge?.upstreams?.length ?? 0) > 0 && bridge?.queue?.storage !== 'memory';
  const bound = bridge?.queue?.max_bytes;
  if (bridgeOn && typeof bound === 'number') {
    // The log may fill up to its bound; leave room for the registry and the OS on the same card.
    const need = bound + 64 * MiB;
    if (free < need) {
      return {
        check: 'disk', status: 'warn',
        message: `${fmt(free)} free at ${at}, but the bridge log may grow to ${fmt(bound)} (bridge.queue.max_bytes) plus 64 MiB headroom`,
        fix: `lower bridge.queue.max_bytes below ${fmt(Math.max(0, free - 64 * MiB))}, or free space on that filesystem`,
      };
    }
    return { check: 'disk', status: 'ok', message: `${fmt(free)} free at ${at}; the bridge log is bounded at ${fmt(bound)}` };
  }
  if (free < 16 * MiB) {
    return { check: 'disk', status: 'warn', message: `only ${fmt(free)} free at ${at}`, fix: 'free space on that filesystem (journalctl --vacuum-size=50M, apt-get clean)' };
  }
  return { check: 'disk', status: 'ok', message: `${fmt(free)} free at ${at}${bridgeOn ? '' : ' (bridge off: no upstreams configured)'}` };
}

export const dataDir: Check = async (ctx: DoctorContext) => {
  if (!ctx.config) return [];
  const dir = resolve(ctx.config.gateway.data_dir);
  const bridge = (ctx.config as { bridge?: BridgeView }).bridge;
  const out = [writable(dir, 'data directory')];
  if (bridge?.queue?.dir && (bridge.upstreams?.length ?? 0) > 0) out.push(writable(resolve(bridge.queue.dir), 'bridge log directory'));
  out.push(freeSpace(dir, bridge));
  return out;
};
