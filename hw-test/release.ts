import { spawn, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { buildRelease, type Arch } from '../deploy/build.ts';

/**
 * Builds the release tarball for `arch` into `dir` (as `npm run build` does) and unpacks it into
 * `dir/unpacked`, so a test runs exactly what a user would download. Returns the release tree.
 */
export async function unpackedRelease(dir: string, arch: Arch): Promise<{ tree: string; tarball: string; bundleBytes: number }> {
  const r = await buildRelease({ out: join(dir, 'dist'), arches: [arch] });
  const tarball = r.tarballs[0]!.path;
  const into = join(dir, 'unpacked');
  mkdirSync(into, { recursive: true });
  execFileSync('tar', ['-xzf', tarball, '-C', into]);
  const name = tarball.slice(tarball.lastIndexOf('/') + 1).replace(/\.tar\.gz$/, '');
  return { tree: join(into, name), tarball, bundleBytes: r.bundleBytes };
}

export type Proc = ChildProcess & { output: { stdout: string; stderr: string } };

export function spawnCaptured(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }) as Proc;
  child.output = { stdout: '', stderr: '' };
  child.stdout!.on('data', (d) => (child.output.stdout += d));
  child.stderr!.on('data', (d) => (child.output.stderr += d));
  return child;
}

export function exited(child: Proc): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve({ code: child.exitCode, signal: child.signalCode, ...child.output });
      return;
    }
    child.once('close', (code, signal) => resolve({ code, signal, ...child.output }));
  });
}
