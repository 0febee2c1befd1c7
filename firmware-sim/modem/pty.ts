import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';

/**
 * A pseudo-terminal pair made by socat: the gateway opens `gw`, the emulator opens `sim`. vanish()
 * kills socat (what a USB unplug looks like to both ends); restore() makes a new pair at the same
 * paths (the module plugged in again).
 */
export class PtyPair {
  private proc: ChildProcess | undefined;

  constructor(readonly gw: string, readonly sim: string) {}

  async open(): Promise<void> {
    const proc = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${this.gw}`, `pty,raw,echo=0,link=${this.sim}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc = proc;
    let err = '';
    proc.stderr?.on('data', (b: Buffer) => (err += b.toString()));
    const deadline = Date.now() + 10_000;
    while (!(existsSync(this.gw) && existsSync(this.sim))) {
      if (proc.exitCode !== null) throw new Error(`socat exited with ${proc.exitCode}: ${err}`);
      if (Date.now() > deadline) throw new Error(`socat did not create ${this.gw} and ${this.sim}: ${err}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    // Both links exist once socat has opened both ptys; it is ready to copy.
  }

  /** Kills socat and waits until it is gone (its links are removed on exit). */
  async vanish(): Promise<void> {
    const proc = this.proc;
    this.proc = undefined;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    proc.kill('SIGTERM');
    await exited;
  }

  restore(): Promise<void> {
    return this.open();
  }

  close(): Promise<void> {
    return this.vanish();
  }
}
