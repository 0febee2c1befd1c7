import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../cli/main.ts', import.meta.url));

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the real `fieldgate` CLI (from TypeScript sources) as a child process. */
export function fieldgate(args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<Run> {
  const child = spawnFieldgate(args, opts);
  if (opts.input !== undefined) child.stdin!.end(opts.input);
  return finished(child);
}

export function spawnFieldgate(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): ChildProcess & { output: { stdout: string; stderr: string } } {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  }) as ChildProcess & { output: { stdout: string; stderr: string } };
  child.output = { stdout: '', stderr: '' };
  child.stdout!.on('data', (d) => (child.output.stdout += d));
  child.stderr!.on('data', (d) => (child.output.stderr += d));
  return child;
}

export function finished(child: ChildProcess & { output?: { stdout: string; stderr: string } }): Promise<Run> {
  return new Promise((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, stdout: child.output?.stdout ?? '', stderr: child.output?.stderr ?? '' }));
  });
}

/** Waits for the JSON "fieldgate started" line and returns the listener URLs it names. */
export function started(child: ChildProcess & { output: { stdout: string } }, timeoutMs = 20_000): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`gateway did not start: ${child.output.stdout}`)), timeoutMs);
    const check = () => {
      for (const line of child.output.stdout.split('\n')) {
        if (!line.includes('fieldgate started')) continue;
        clearTimeout(t);
        child.stdout!.off('data', check);
        resolve(JSON.parse(line).listeners as string[]);
        return;
      }
    };
    child.stdout!.on('data', check);
    child.once('close', () => {
      clearTimeout(t);
      reject(new Error(`gateway exited before starting: ${child.output.stdout}`));
    });
  });
}

const children = new Set<ChildProcess>();
let reaper = false;

/**
 * Starts `fieldgate start --config <file>` (no systemd notify) and waits for it to listen; returns
 * its first listener as an mqtt: URL. A test process that dies first takes the children with it.
 */
export async function startChild(config: string): Promise<{ child: ReturnType<typeof spawnFieldgate>; url: string }> {
  if (!reaper) {
    reaper = true;
    process.on('exit', () => {
      for (const c of children) c.kill('SIGKILL');
    });
  }
  const child = spawnFieldgate(['start', '--config', config], { env: { NOTIFY_SOCKET: '', JOURNAL_STREAM: '' } });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const [listener] = await started(child);
  return { child, url: listener!.replace(/^tcp:/, 'mqtt:') };
}

/** Sends `signal` to a child that is still running and waits for it to exit. */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const done = finished(child);
  child.kill(signal);
  await done;
}
