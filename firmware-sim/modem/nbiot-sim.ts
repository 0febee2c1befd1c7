import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bc95Emulator, type Bc95Options } from './bc95.ts';
import { Bg96Emulator, type Bg96Options } from './bg96.ts';
import type { NbiotEmulator } from './nbiot-emulator.ts';
import { PtyPair } from './pty.ts';

export type NbiotModuleType = 'bc95' | 'bg96';

/**
 * A simulated NB-IoT module on a socat pty pair (the gateway opens `path`), and the operator's
 * network around it: `network()` gives a local UDP address that stands for the module's address
 * on a private APN, so any UDP device simulator (firmware-sim/coap, firmware-sim/lwm2m) reaches
 * the gateway through the module. Each device's real source gets its own address on the simulated
 * network (10.64.1.x), and what the module sends to that address goes back to the device.
 */
export class NbiotModuleSim {
  readonly dir: string;
  readonly path: string;
  private readonly pty: PtyPair;
  private relay: Socket | undefined;

  private constructor(
    readonly type: NbiotModuleType,
    readonly emulator: NbiotEmulator,
    readonly baud: number,
    path?: string,
  ) {
    this.dir = mkdtempSync(join(tmpdir(), 'fieldgate-nbiot-'));
    this.path = path ?? join(this.dir, 'tty-gw');
    this.pty = new PtyPair(this.path, join(this.dir, 'tty-sim'));
  }

  static async start(type: NbiotModuleType, opts: (Bc95Options & Bg96Options) & { path?: string } = {}): Promise<NbiotModuleSim> {
    const emulator = type === 'bc95' ? new Bc95Emulator(opts) : new Bg96Emulator(opts);
    const sim = new NbiotModuleSim(type, emulator, type === 'bc95' ? 9600 : 115200, opts.path);
    await sim.pty.open();
    await emulator.attach(sim.pty.sim, sim.baud);
    return sim;
  }

  /**
   * A UDP socket on 127.0.0.1 standing for the module's address on the operator's network; devices
   * send to it. `toPort`: the module socket's port the datagrams are for (default: its first socket).
   */
  async network(toPort?: number): Promise<{ host: string; port: number }> {
    if (this.relay) return { host: '127.0.0.1', port: this.relay.address().port };
    const sock = createSocket('udp4');
    this.relay = sock;
    const byReal = new Map<string, string>();
    const bySim = new Map<string, { address: string; port: number }>();
    sock.on('message', (payload, rinfo) => {
      const real = `${rinfo.address}:${rinfo.port}`;
      let address = byReal.get(real);
      if (!address) {
        address = `10.64.1.${(byReal.size % 250) + 1}`;
        byReal.set(real, address);
        bySim.set(`${address}:${rinfo.port}`, { address: rinfo.address, port: rinfo.port });
      }
      this.emulator.deliver({ address, port: rinfo.port, payload }, toPort);
    });
    sock.on('error', () => {});
    this.emulator.onSend((d) => {
      const to = bySim.get(`${d.address}:${d.port}`);
      if (to) sock.send(d.payload, to.port, to.address);
    });
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
    return { host: '127.0.0.1', port: sock.address().port };
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
    this.relay?.close();
    this.relay = undefined;
    await this.emulator.detach();
    await this.pty.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
