import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PtyPair } from './pty.ts';
import type { ModuleEmulator } from './emulator.ts';
import { Rak3172Emulator, type Rak3172Options } from './rak3172.ts';
import { Rn2483Emulator } from './rn2483.ts';

export type ModuleType = 'rak3172' | 'rn2483';

/**
 * A simulated LoRa module on a socat pty pair: the gateway opens `path`, the emulator sits on the
 * other end. Scenario API: emulator.rx() (a node transmits), emulator.fault(), emulator.garbage(),
 * emulator.reboot(), and vanish()/restore() for a USB unplug and re-plug.
 */
export class LoraModuleSim {
  readonly dir: string;
  readonly path: string;
  private readonly pty: PtyPair;

  private constructor(
    readonly type: ModuleType,
    readonly emulator: ModuleEmulator,
    readonly baud: number,
    path?: string,
  ) {
    this.dir = mkdtempSync(join(tmpdir(), 'fieldgate-lora-'));
    this.path = path ?? join(this.dir, 'tty-gw');
    this.pty = new PtyPair(this.path, join(this.dir, 'tty-sim'));
  }

  /** `path`: where the gateway's end appears (a symlink socat makes); default: in a fresh temp dir. */
  static async start(type: ModuleType, opts: Rak3172Options & { path?: string } = {}): Promise<LoraModuleSim> {
    const emulator = type === 'rak3172' ? new Rak3172Emulator(opts) : new Rn2483Emulator(opts);
    const sim = new LoraModuleSim(type, emulator, type === 'rak3172' ? 115200 : 57600, opts.path);
    await sim.pty.open();
    await emulator.attach(sim.pty.sim, sim.baud);
    return sim;
  }

  /** The module is unplugged: both ends of the pty go away. */
  async vanish(): Promise<void> {
    await this.emulator.detach();
    await this.pty.vanish();
  }

  /** Plugged in again: a fresh pty at the same path, the module powered on anew. */
  async restore(): Promise<void> {
    await this.pty.restore();
    this.emulator.reboot();
    await this.emulator.attach(this.pty.sim, this.baud);
  }

  async stop(): Promise<void> {
    await this.emulator.detach();
    await this.pty.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
