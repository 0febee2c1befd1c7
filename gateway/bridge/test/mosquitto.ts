import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';

// A real Mosquitto as the "cloud" broker for the bridge tests: on 127.0.0.1, on a port the OS
// picked, with its config in the test's temp dir.

export const MOSQUITTO = process.env.MOSQUITTO_BIN ?? 'mosquitto';

/** A port nothing listens on right now (listen on 0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

export interface MosquittoOptions {
  /** Keep sessions and queued messages across a restart (mosquitto.db in the temp dir). */
  persistence?: boolean;
  /** Extra config lines for the listener (TLS files, require_certificate, ...). */
  listener?: string[];
  /** A mosquitto_passwd file: anonymous clients are then refused. */
  passwordFile?: string;
  /** Lines after everything else, e.g. a second (plain) listener. */
  extra?: string[];
}

export class Mosquitto {
  private proc?: ChildProcess;
  private stderr = '';

  constructor(private readonly dir: string, readonly port: number, private readonly opts: MosquittoOptions = {}) {}

  static async create(dir: string, opts: MosquittoOptions = {}): Promise<Mosquitto> {
    return new Mosquitto(dir, await freePort(), opts);
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const conf = join(this.dir, `mosquitto-${this.port}.conf`);
    const auth = this.opts.passwordFile ? ['allow_anonymous false', `password_file ${this.opts.passwordFile}`] : ['allow_anonymous true'];
    const lines = [`listener ${this.port} 127.0.0.1`, ...auth, ...(this.opts.listener ?? []), 'max_queued_messages 0', 'max_inflight_messages 0'];
    // Run as root, mosquitto drops to the "mosquitto" user, which cannot write the test's private
    // temp dir; stay as the test's user instead.
    if (process.getuid?.() === 0) lines.push('user root');
    if (this.opts.persistence) lines.push('persistence true', `persistence_location ${this.dir}/`, `persistence_file mosquitto-${this.port}.db`, 'autosave_interval 0');
    lines.push(...(this.opts.extra ?? []));
    writeFileSync(conf, `${lines.join('\n')}\n`);
    this.stderr = '';
    const proc = spawn(MOSQUITTO, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    proc.stderr!.on('data', (d: Buffer) => {
      this.stderr += d.toString();
    });
    this.proc = proc;
    const start = Date.now();
    while (!(await accepts(this.port))) {
      if (proc.exitCode !== null) throw new Error(`mosquitto exited with ${proc.exitCode}: ${this.stderr}`);
      if (Date.now() - start > 10_000) throw new Error(`mosquitto did not listen on ${this.port}: ${this.stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** SIGSTOP: the broker keeps its sockets open but answers nothing (a cloud that hangs). */
  pause(): void {
    this.proc?.kill('SIGSTOP');
  }

  /** SIGCONT after pause(). */
  resume(): void {
    if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGCONT');
  }

  /** Re-reads its config files (ACL, passwords) without dropping connections. */
  reload(): void {
    this.proc?.kill('SIGHUP');
  }

  /** SIGTERM (mosquitto saves its db when persistence is on) and wait for the exit. */
  async stop(): Promise<void> {
    const p = this.proc;
    this.proc = undefined;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGCONT'); // a paused broker handles SIGTERM only once it runs again
      p.kill('SIGTERM');
    });
  }

  get log(): string {
    return this.stderr;
  }
}
