import type { AtEngine } from '../at/engine.ts';
import { isAtError } from '../at/errors.ts';
import { maxDatagram, type ModemConfig } from '../config.ts';
import { canonicalIp, Cellular, type Datagram, type Health, type NbiotDriver, type NbiotEvents, type NetworkState } from './driver.ts';

// Quectel BG96 / BG95 / BC66 ("QI" command set, modems.md §3.3): a "UDP SERVICE" socket in buffer
// access mode. "+QIURC: "recv",<id>" comes once until the buffer is drained, so every notice is
// followed by AT+QIRD until it answers +QIRD: 0. Data is raw bytes after the +QIRD line, and a send
// writes raw bytes after the "> " prompt: both need the engine's byte modes, never hex.
const CONNECT_ID = 0;
const RECV = /^\+QIURC: "recv",(\d+)(?:,\d+)?$/;
const CLOSED = /^\+QIURC: "closed",(\d+)$/;
const PDPDEACT = /^\+QIURC: "pdpdeact",(\d+)$/;
const QIRD = /^\+QIRD: (\d+),"([^"]+)",(\d{1,5})$/;
const QIRD_EMPTY = /^\+QIRD: 0$/;
const APP_RDY = /^APP RDY$/;
// The rest of the power-on text: claimed so it is never a command's info line or "unexpected".
const BOOT_NOISE = /^(RDY|\+QUSIM: \d|\+QIND: .*|\+CPIN: READY)$/;

export class Bg96Driver implements NbiotDriver {
  readonly maxDatagram: number;
  private readonly net: Cellular;
  private open = false;
  private resetting = false;
  private draining = false;
  private drainAgain = false;

  constructor(
    private readonly engine: AtEngine,
    private readonly cfg: ModemConfig,
    private readonly events: NbiotEvents,
  ) {
    this.maxDatagram = maxDatagram(cfg);
    this.net = new Cellular(engine, cfg, 1);
    engine.onUrc(RECV, (m) => {
      if (Number(m[1]) === CONNECT_ID) this.drain();
    });
    engine.onUrc(CLOSED, (m) => {
      if (Number(m[1]) !== CONNECT_ID || !this.open) return;
      this.open = false;
      events.socketClosed('+QIURC: "closed"');
    });
    engine.onUrc(PDPDEACT, () => {
      if (!this.open) return;
      this.open = false;
      events.socketClosed('+QIURC: "pdpdeact" (the network deactivated the data connection)');
    });
    engine.onUrc(APP_RDY, (m) => {
      this.open = false;
      if (!this.resetting) events.rebooted(m[0]);
    });
    engine.onUrc(BOOT_NOISE, () => {});
  }

  get socketOpen(): boolean {
    return this.open;
  }

  async setup(): Promise<void> {
    await this.net.setup();
  }

  async powerUp(): Promise<void> {
    await this.net.powerUp();
  }

  async network(): Promise<NetworkState> {
    const n = await this.net.network();
    // A BG96 attaches by itself once registered, unless a saved AT+CGATT=0 (or the network) left it
    // detached: then it would wait forever, so attach is asked for, as on the BC95.
    if (n.cfun === 1 && (n.stat === 1 || n.stat === 5) && !n.attached) await this.net.attach();
    return n;
  }

  health(): Promise<Health> {
    return this.net.health();
  }

  async openSocket(port: number): Promise<void> {
    this.open = false;
    await this.engine.send(`AT+QICLOSE=${CONNECT_ID}`, { timeoutMs: this.cfg.timeouts.network }).catch(() => undefined);
    const act = await this.net.cmd('AT+QIACT?');
    if (!act.lines.some((l) => /^\+QIACT: 1,1,/.test(l))) {
      if (this.cfg.nbiot.apn !== undefined) await this.net.cmd(`AT+QICSGP=1,1,"${this.cfg.nbiot.apn}","","",1`);
      await this.engine.send('AT+QIACT=1', { timeoutMs: this.cfg.timeouts.network });
    }
    // The result is a second line after OK: the waiter is armed before the command is written.
    const result = this.engine.expect(new RegExp(`^\\+QIOPEN: ${CONNECT_ID},(\\d+)$`), this.cfg.timeouts.network);
    try {
      await this.engine.send(`AT+QIOPEN=1,${CONNECT_ID},"UDP SERVICE","127.0.0.1",0,${port},0`, { timeoutMs: this.cfg.timeouts.network });
    } catch (err) {
      result.cancel();
      throw err;
    }
    const m = await result.promise;
    if (m[1] !== '0') throw new Error(`AT+QIOPEN failed with error ${m[1]}`);
    this.open = true;
    this.drain();
  }

  async send(d: Datagram): Promise<void> {
    if (!this.open) throw new Error('no socket open');
    await this.engine.send(`AT+QISEND=${CONNECT_ID},${d.payload.length},"${d.address}",${d.port}`, { timeoutMs: this.cfg.timeouts.network, prompt: { text: '> ', data: d.payload } });
  }

  private drain(): void {
    if (this.draining) {
      this.drainAgain = true;
      return;
    }
    this.draining = true;
    void this.readAll().finally(() => {
      this.draining = false;
      if (this.drainAgain) {
        this.drainAgain = false;
        this.drain();
      }
    });
  }

  private async readAll(): Promise<void> {
    for (let i = 0; i < 256 && this.open; i++) {
      let r;
      try {
        r = await this.engine.send(`AT+QIRD=${CONNECT_ID},1500`, { rawAfter: (l) => (QIRD.test(l) ? Number(QIRD.exec(l)?.[1]) : undefined) });
      } catch (err) {
        if (isAtError(err, 'error')) this.events.malformed(`AT+QIRD refused: ${err.final ?? ''}`);
        return;
      }
      if (r.lines.some((l) => QIRD_EMPTY.test(l))) return;
      const head = r.lines.map((l) => QIRD.exec(l)).find((m) => m !== null);
      if (!head || !r.raw) {
        this.events.malformed(`AT+QIRD answered ${r.lines.join(' | ') || 'nothing'}`);
        return;
      }
      this.events.datagram({ address: canonicalIp(head[2] ?? ''), port: Number(head[3]), payload: r.raw });
    }
  }

  async ping(timeoutMs: number): Promise<void> {
    await this.engine.send('AT', { timeoutMs, priority: true });
  }

  async softReset(): Promise<void> {
    this.resetting = true;
    this.open = false;
    const ready = this.engine.expect(APP_RDY, this.cfg.timeouts.reboot as number);
    try {
      await this.engine.send('AT+CFUN=1,1', { timeoutMs: this.cfg.timeouts.command, priority: true });
      await ready.promise;
    } catch (err) {
      ready.cancel();
      throw err;
    } finally {
      this.resetting = false;
    }
  }
}
