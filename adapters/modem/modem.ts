import type { AdapterContext } from '../../gateway/core/adapter.ts';
import type { DeliveredMessage, DeviceIdentity } from '../../gateway/core/message.ts';
import { AtEngine } from './at/engine.ts';
import { RN2483, RUI3 } from './at/dialect.ts';
import { isAtError } from './at/errors.ts';
import { SerialLink } from './at/link.ts';
import { countersPath, defaultBaud, ledgerPath, type ModemConfig } from './config.ts';
import { UplinkHandler } from './frames/uplink.ts';
import { DownlinkQueue, type DownlinkRequest, type DownlinkStatus } from './lora/downlink.ts';
import type { DriverEvents, LoraDriver, RxFrame } from './lora/driver.ts';
import { Rak3172Driver } from './lora/rak3172.ts';
import { Rn2483Driver } from './lora/rn2483.ts';
import { parseDownlink } from './downlink-message.ts';
import { ModemStats } from './stats.ts';
import { SysLeaves } from './sys-leaves.ts';
import { RecoveryLadder } from './recovery.ts';
import { Throttle } from './throttle.ts';

type Phase = 'down' | 'starting' | 'ready' | 'recovering';

/**
 * One configured modem: its serial link, AT engine, module driver, uplink handling and downlink
 * queue. Bring-up, transmissions, probes and recovery run one at a time (exclusive()); received
 * frames are handled as they arrive, whatever else is going on.
 */
export class ModemRuntime {
  private readonly engine: AtEngine;
  private readonly link: SerialLink;
  private readonly driver: LoraDriver;
  private readonly stats: ModemStats;
  private readonly uplink: UplinkHandler;
  private readonly downlinks: DownlinkQueue;
  private readonly throttle: Throttle;
  private readonly device: DeviceIdentity;
  private phaseNow: Phase = 'down';
  private readonly leaves: SysLeaves;
  private chain: Promise<void> = Promise.resolve();
  private probeTimer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => Promise<void>) | undefined;
  private readonly ladder: RecoveryLadder;
  private stopped = false;
  private announced = false;

  constructor(private readonly cfg: ModemConfig, private readonly ctx: AdapterContext) {
    const log = ctx.log;
    this.leaves = new SysLeaves(ctx.sys, cfg.name);
    this.throttle = new Throttle((f, m) => log.warn(f, m));
    this.device = { protocol: 'lora', transport: 'serial', id: cfg.name, address: cfg.path };
    this.stats = new ModemStats(ctx.metrics, cfg.name);
    this.engine = new AtEngine(cfg.type === 'rn2483' ? RN2483 : RUI3, {
      defaultTimeoutMs: cfg.timeouts.command,
      hooks: {
        unexpected: (line) => {
          this.stats.unexpectedLines.inc();
          log.debug({ modem: cfg.name, line }, 'modem: unexpected line');
        },
        handlerError: (err, line) => log.error({ modem: cfg.name, err: err.message, line }, `modem ${cfg.name}: handling "${line}" failed: ${err.message}`),
      },
    });
    const events: DriverEvents = { frame: (f) => this.onFrame(f), rebooted: (b) => this.onReboot(b), malformed: (what) => this.uplink.malformed(what) };
    this.driver = cfg.type === 'rn2483' ? new Rn2483Driver(this.engine, cfg, events) : new Rak3172Driver(this.engine, cfg, events);
    this.uplink = new UplinkHandler(cfg, ctx.messages, this.stats, this.throttle, countersPath(cfg, ctx.dataDir));
    this.downlinks = new DownlinkQueue(cfg, {
      ready: () => this.phase === 'ready',
      transmit: (p, ms) => this.transmit(p, ms),
      done: (req, s) => this.downlinkDone(req, s),
      ledgerNotSaved: (err) => {
        const file = ledgerPath(cfg, ctx.dataDir);
        this.throttle.warn('ledger', { modem: cfg.name, err: err.message }, `modem ${cfg.name}: cannot write the duty-cycle ledger ${file}: ${err.message}; a restart would forget this hour's transmissions until it can`);
      },
    }, ledgerPath(cfg, ctx.dataDir));
    this.ladder = new RecoveryLadder(cfg.name, log, cfg.reconnect, {
      stopped: () => this.stopped,
      nudge: () => this.link.write(Buffer.from('\r\n')),
      ping: () => this.driver.ping(cfg.timeouts.command),
      softReset: () => this.driver.softReset(),
      restore: async (how) => {
        await this.driver.init();
        this.ready(how);
      },
      reopen: (why) => this.link.reopen(why),
    });
    this.link = new SerialLink({
      name: cfg.name,
      path: cfg.path,
      baudRate: defaultBaud(cfg),
      log,
      backoffMinMs: cfg.reconnect.min,
      backoffMaxMs: cfg.reconnect.max,
      onData: (chunk) => this.engine.feed(chunk),
      onOpen: () => this.onOpen(),
      onClose: (reason) => this.onClose(reason),
    });
    const s = this.stats;
    s.gauge(cfg.name, 'ready', () => (this.phase === 'ready' ? 1 : 0));
    s.gauge(cfg.name, 'port/open', () => (this.link.isOpen ? 1 : 0));
    s.counter(cfg.name, 'port/opens', () => this.link.opens);
    s.counter(cfg.name, 'port/vanished', () => this.link.vanished);
    s.gauge(cfg.name, 'downlinks/queued', () => this.downlinks.length);
    // Seconds, Prometheus's base unit, with the millisecond resolution the ledger keeps.
    s.gauge(cfg.name, 'duty_cycle/used_seconds', () => Math.round(this.downlinks.ledger?.usedMs() ?? 0) / 1000);
    s.gauge(cfg.name, 'duty_cycle/budget_seconds', () => Math.round(this.downlinks.ledger?.budgetMs ?? 0) / 1000);
    s.counter(cfg.name, 'at/timeouts', () => this.engine.stats.timeouts);
  }

  /** Every phase change shows in $SYS (state). */
  private get phase(): Phase {
    return this.phaseNow;
  }

  private set phase(p: Phase) {
    this.phaseNow = p;
    if (!this.stopped) this.leaves.set({ state: p });
  }

  async start(): Promise<void> {
    this.leaves.set({ type: this.cfg.type, state: this.phase });
    await this.uplink.init();
    const sub = await this.ctx.messages.subscribe(`lora/${this.cfg.name}/dn`, (m) => this.onDownlink(m));
    this.unsubscribe = () => sub.unsubscribe();
    this.link.start();
    this.probeTimer = setInterval(() => this.probe(), this.cfg.probe_interval);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.probeTimer);
    this.downlinks.stop();
    await this.unsubscribe?.();
    await this.link.stop();
    this.engine.detach('adapter stopping');
    await this.uplink.close();
    this.leaves.stopped();
  }

  /** An operator's kick of one of this modem's LoRa nodes: its frame counter is forgotten (uplink.ts forgetNode). */
  disconnect(id: string, reason: string): boolean {
    if (!this.uplink.forgetNode(id)) return false;
    this.ctx.log.info({ modem: this.cfg.name, node: id, reason }, `modem ${this.cfg.name}: node ${id} kicked; its frame counter is forgotten, its next frame is accepted whatever its counter`);
    this.ctx.messages.deviceDisconnected(this.uplink.nodeDevice(id), reason);
    return true;
  }

  /** Serializes bring-up, transmissions, probes and recovery. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn);
    this.chain = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private onOpen(): void {
    this.engine.attach((b) => this.link.write(b));
    this.phase = 'starting';
    void this.exclusive(() => this.bringUp());
  }

  private onClose(reason: string): void {
    if (this.phase !== 'down' && !this.stopped) this.ctx.messages.deviceDisconnected(this.device, 'port_closed');
    this.phase = 'down';
    this.engine.detach(reason);
  }

  private async bringUp(): Promise<void> {
    if (!this.engine.attached || this.stopped) return;
    try {
      await this.driver.init();
      this.ready('bring-up');
    } catch (err) {
      if (isAtError(err, 'closed')) return;
      await this.recover(`bring-up failed: ${(err as Error).message}`);
    }
  }

  private ready(how: string): void {
    const first = !this.announced;
    this.announced = true;
    this.phase = 'ready';
    this.leaves.set({ module: this.driver.version });
    const l = this.cfg.lora;
    const what = `${this.cfg.type} ${this.driver.version ?? '(version unknown)'} on ${this.cfg.path}, ${l.frequency / 1e6} MHz SF${l.sf} BW${l.bw}, frames ${this.cfg.frames}`;
    const down = this.ladder.recovered();
    if (down !== undefined) {
      const secs = down.toFixed(1);
      this.ctx.log.info({ modem: this.cfg.name, by: how, down_s: Number(secs) }, `modem ${this.cfg.name}: recovered by ${how} after ${secs} s; receiving again`);
    } else if (first) {
      this.ctx.log.info({ modem: this.cfg.name }, `modem ${this.cfg.name} ready: ${what}`);
    }
    this.ctx.messages.deviceConnected(this.device, { proto_name: 'LoRa-P2P', proto_ver: this.cfg.type });
    this.downlinks.kick();
  }

  /** Trouble: the recovery ladder (recovery.ts), once the module is marked as recovering. */
  private async recover(reason: string): Promise<void> {
    if (!this.engine.attached || this.stopped) return;
    this.phase = 'recovering';
    this.stats.recoveries.inc();
    await this.ladder.climb(reason);
  }

  private onReboot(banner: string): void {
    this.stats.reboots.inc();
    this.phase = 'starting';
    this.throttle.warn('reboot', { modem: this.cfg.name, banner }, `modem ${this.cfg.name}: module rebooted on its own ("${banner}"); setting it up again`);
    void this.exclusive(() => this.bringUp());
  }

  private probe(): void {
    if (this.phase !== 'ready' || this.engine.busy) return;
    void this.exclusive(async () => {
      if (this.phase !== 'ready') return;
      try {
        await this.driver.ping(this.cfg.timeouts.command);
        this.stats.probes.inc();
        if (!this.driver.receiving) {
          await this.driver.init();
        }
      } catch (err) {
        if (!isAtError(err, 'closed')) await this.recover(`liveness probe failed: ${(err as Error).message}`);
      }
    });
  }

  private transmit(payload: Buffer, airtimeMs: number): Promise<void> {
    return this.exclusive(async () => {
      try {
        await this.driver.transmit(payload, airtimeMs);
        this.stats.airtime.inc(airtimeMs / 1000);
      } finally {
        if (this.engine.attached && (this.engine.consecutiveTimeouts > 0 || !this.driver.receiving)) await this.recover('a transmission left the module not answering or not receiving');
      }
    });
  }

  private onFrame(f: RxFrame): void {
    this.uplink.handle(f).catch((err: Error) => this.ctx.log.error({ modem: this.cfg.name, err: err.message }, `modem ${this.cfg.name}: handling a frame failed: ${err.message}`));
  }

  private onDownlink(m: DeliveredMessage): void {
    const req = parseDownlink(m.payload);
    if ('error' in req) {
      this.downlinkDone({ payload: m.payload }, { status: 'refused', cause: 'invalid', reason: req.error });
      return;
    }
    this.downlinks.push(req);
  }

  private downlinkDone(req: DownlinkRequest, s: DownlinkStatus): void {
    const key = s.status === 'sent' ? 'sent' : s.status === 'failed' ? 'failed' : (`refused_${s.cause}` as const);
    this.stats.downlinks[key].inc();
    if (s.status !== 'sent') {
      this.throttle.warn(`dn:${key}`, { modem: this.cfg.name, ...s }, `modem ${this.cfg.name}: downlink ${s.status}: ${s.reason}`);
    }
    const body = { ...s, ...(req.id !== undefined ? { id: req.id } : {}), payload: req.payload.toString('hex'), ts: Date.now(), modem: this.cfg.name };
    this.ctx.messages.publish({ topic: `lora/${this.cfg.name}/dn/status`, payload: JSON.stringify(body), device: this.device }).catch((err: Error) => {
      this.ctx.log.debug({ modem: this.cfg.name, err: err.message }, 'modem: downlink status not published');
    });
  }
}
