import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// A real small filesystem for full-disk tests: a tmpfs mount (needs root, which CI has).

/** Under FIELDGATE_REQUIRE_TOOLS=1 a missing prerequisite fails the test instead of skipping it. */
export function requireOrSkip(reason: string): string {
  if (process.env.FIELDGATE_REQUIRE_TOOLS === '1') throw new Error(`${reason} (FIELDGATE_REQUIRE_TOOLS=1 forbids skipping)`);
  return reason;
}

/** Why a tmpfs cannot be mounted here, or undefined when it can be tried. */
export function smallFsSkip(): string | undefined {
  return process.getuid?.() !== 0 ? requireOrSkip('mounting a small tmpfs needs root: run as root (CI does) to test a full disk') : undefined;
}

/** A `size` tmpfs mounted on a new temporary directory, or the reason it could not be mounted. */
export function smallFilesystem(size = '1m'): { path: string; remove(): void } | string {
  const path = mkdtempSync(join(tmpdir(), 'fieldgate-small-fs-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', path], { encoding: 'utf8' });
  if (r.status !== 0) {
    rmSync(path, { recursive: true, force: true });
    return requireOrSkip(`mount -t tmpfs failed (${(r.stderr || r.error?.message || '').trim()}): the container does not allow mounts`);
  }
  return {
    path,
    remove: () => {
      spawnSync('umount', [path]);
      rmSync(path, { recursive: true, force: true });
    },
  };
}

/** Fills the filesystem under `dir` to the last byte with one file; returns its path. */
export function fill(dir: string): string {
  const filler = join(dir, 'filler');
  for (const n of [65536, 4096, 1024, 256, 64, 16, 1]) {
    try {
      for (;;) writeFileSync(filler, Buffer.alloc(n, 0x7a), { flag: 'a' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
    }
  }
  return filler;
}
