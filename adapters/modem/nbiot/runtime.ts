import { rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { AdapterContext, DeviceIdentity } from '../../../gateway/core/adapter.ts';
import { AtEngine } from '../at/engine.ts';
import { GSM } from '../at/dialect.ts';
import { isAtError } from '../at/errors.ts';
import { SerialLink } from '../at/link.ts';
import { defaultBaud, type ModemConfig } from '../config.ts';
import { Bc95Driver } from './bc95.ts';
import { Bg96Driver } from './bg96.ts';
import { csqDbm, isRegistered, type Datagram, type Health, type NbiotDriver, type NbiotEvents } from './driver.ts';
import { NbiotStats } from './stats.ts';
import { SysLeaves } from '../sys-leaves.ts';
import { RecoveryLadder } from '../recovery.ts';
import { Throttle } from '../throttle.ts';

type Phase = 'down' | 'starting' | 'attaching' | 'ready' | 'recovering';

/** Where the runtime reports its socket coming and going, and what arrives on it. */
export interface SocketUser {
  datagram(d: Datagram): void;
  /** The socket is open and the module registered: datagrams can be sent. */
  up(): void;
  /** The socket is gone (reset, +NSOCLI, registration lost, port vanished). */
  down(why: string): void;
}

/** A datagram the runtime would not hand to the module; `reason` is a whole log line's worth. */
export class DatagramRefused extends Error {
  constructor(readonly why: 'too_large' | 'not_ready', message: string) {
    super(message);
    this.name = 'DatagramRefused';
  }
}

/** The longest line the module may print: a 1460-byte datagram in hex, plus its socket, IPv6 address and port. */
const MAX_LINE = 2 * 1460 + 128;

const STAT: Record<number, string> = { 0: 'not searching', 1: 'registered, home network', 2: 'searching', 3: 'registration denied', 4: 'unknown', 5: 'registered, roaming' };

/**
 * One NB-IoT module: serial link, AT engine, BC95 or BG96 driver, registration and socket
 * lifecycle, health. Bring-up, attach checks, health reads and recovery run one at a time
 * (exclusive()); reads of received datagrams and sends go straight to the engine's queue.
 */
export class NbiotRuntime {
  private readonly engine: AtEngine;
  private readonly link: SerialLink;
  private readonly driver: NbiotDriver;
  readonly stats: NbiotStats;
  private readonly limited: Throttle;
  private readonly device: DeviceIdentity;
  private phaseNow: Phase = 'down';
  private readonly leaves: SysLeaves;
  private chain: Promise<void> = Promise.resolve();
  private timers: NodeJS.Timeout[] = [];
  private attachTimer: NodeJS.Timeout | undefined;
  private attachTries = 0;
  private waitingSince: number | undefined;
  private readonly ladder: RecoveryLadder;
  private stopped = false;
  private announced = false;
  health: Partial<Health> = {};
  private saving: Promise<void> = Promise.resolve();

  constructor(readonly cfg: ModemConfig, private readonly ctx: AdapterContext, private readonly user: SocketUser) {
    const log = ctx.log;
    this.leaves = new SysLeaves(ctx.sys, cfg.name);
    this.limited = new Throttle((f, m) => log.warn(f, m));
    this.device = { protocol: 'nbiot', transport: 'serial', id: cfg.name, address: cfg.path };
    this.stats = new NbiotStats(ctx.metrics, cfg.name);
    this.engine = new AtEngine(GSM, {
      defaultTimeoutMs: cfg.timeouts.command,
      // A received datagram is one line of hex on a BC95 (+NSONMI / AT+NSORF): 1358 bytes (BC28) are
      // 2716 characters plus socket, address and port; the framer's default 1024 would drop it.
      maxLine: MAX_LINE,
      hooks: {
        overflow: (bytes) => {
          this.stats.malformed.inc();
          this.warn('overflow', { bytes }, `modem ${cfg.name}: a line of ${bytes} bytes from the module is longer than ${MAX_LINE} and was dropped (a datagram in it is lost)`);
        },
        unexpected: (line) => {
          this.stats.unexpectedLines.inc();
          log.debug({ modem: cfg.name, line }, 'modem: unexpected line');
        },
        handlerError: (err, line) => log.error({ modem: cfg.name, err: err.message, line }, `modem ${cfg.name}: handling "${line}" failed: ${err.message}`),
      },
    });
    const events: NbiotEvents = {
      datagram: (d) => {
        this.stats.received.inc();
        this.user.datagram(d);
      },
      socketClosed: (why) => this.onSocketClosed(why),
      rebooted: (b) => this.onReboot(b),
      malformed: (what) => {
        this.stats.malformed.inc();
        this.warn('malformed', {}, `modem ${cfg.name}: ${what}; dropped`);
      },
    };
    this.driver = cfg.type === 'bg96' ? new Bg96Driver(this.engine, cfg, events) : new Bc95Driver(this.engine, cfg, events);
    this.ladder = new RecoveryLadder(cfg.name, log, cfg.reconnect, {
      stopped: () => this.stopped,
      nudge: () => this.link.write(Buffer.from('\r\n')),
      ping: () => this.driver.ping(cfg.timeouts.command),
      softReset: () => this.driver.softReset(),
      // bringUp() handles its own failures (another climb, or waiting for the network).
      restore: () => this.bringUp(),
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
    this.stats.gauges({
      ready: () => (this.phase === 'ready' ? 1 : 0),
      portOpen: () => (this.link.isOpen ? 1 : 0),
      socketOpen: () => (this.phase === 'ready' && this.driver.socketOpen ? 1 : 0),
      registration: () => this.health.stat ?? 0,
      attached: () => (this.health.attached ? 1 : 0),
      csq: () => this.health.csq ?? 99,
      rssiDbm: () => csqDbm(this.health.csq ?? 99) ?? 0,
      timeouts: () => this.engine.stats.timeouts,
    });
  }

  /** Every phase change shows in $SYS (state, socket). */
  private get phase(): Phase {
    return this.phaseNow;
  }

  private set phase(p: Phase) {
    this.phaseNow = p;
    if (!this.stopped) this.leaves.set({ state: p, socket: p === 'ready' && this.driver.socketOpen ? 'open' : 'closed' });
  }

  get maxDatagram(): number {
    return this.driver.maxDatagram;
  }

  get ready(): boolean {
    return this.phase === 'ready';
  }

  start(): void {
    this.leaves.set({ type: this.cfg.type, state: this.phase, socket: 'closed', port: this.cfg.nbiot.listen_port, protocol: this.cfg.nbiot.protocol });
    this.link.start();
    this.timers.push(setInterval(() => this.probe(), this.cfg.probe_interval));
    this.timers.push(setInterval(() => this.checkHealth(), this.cfg.health_interval));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    clearTimeout(this.attachTimer);
    this.goDown('adapter stopping');
    await this.link.stop();
    this.engine.detach('adapter stopping');
    this.limited.clear();
    this.leaves.stopped();
  }

  /** Sends one datagram through the module; refuses what the module cannot take, with one log line. */
  async send(d: Datagram): Promise<void> {
    if (d.payload.length > this.driver.maxDatagram) {
      this.stats.refusedTooLarge.inc();
      const msg = `modem ${this.cfg.name}: datagram of ${d.payload.length} bytes to ${d.address}:${d.port} refused: a ${this.cfg.type} takes at most ${this.driver.maxDatagram} bytes per datagram (nbiot.max_datagram)`;
      this.warn('too_large', { to: `${d.address}:${d.port}`, bytes: d.payload.length, max: this.driver.maxDatagram }, msg);
      throw new DatagramRefused('too_large', msg);
    }
    if (this.phase !== 'ready') {
      this.stats.refusedNotReady.inc();
      throw new DatagramRefused('not_ready', `modem ${this.cfg.name} is not ready (${this.phase}): datagram to ${d.address}:${d.port} not sent`);
    }
    try {
      await this.driver.send(d);
      this.stats.sent.inc();
    } catch (err) {
      this.stats.sendFailed.inc();
      this.warn('send', { to: `${d.address}:${d.port}`, err: (err as Error).message }, `modem ${this.cfg.name}: datagram to ${d.address}:${d.port} not sent: ${(err as Error).message} (not retried: it may have left)`);
      throw err;
    }
  }

  private warn(key: string, fields: Record<string, unknown>, msg: string): void {
    this.limited.warn(key, { modem: this.cfg.name, ...fields }, msg);
  }

  private exclusive(fn: () => Promise<void>): Promise<void> {
    const run = this.chain.then(fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private onOpen(): void {
    this.engine.attach((b) => this.link.write(b));
    this.phase = 'starting';
    void this.exclusive(() => this.bringUp());
  }

  private onClose(reason: string): void {
    clearTimeout(this.attachTimer);
    this.goDown(`serial port closed (${reason})`);
    this.phase = 'down';
    this.engine.detach(reason);
  }

  /** The socket is no longer usable: tell its user once. */
  private goDown(why: string): void {
    if (this.phase !== 'ready') return;
    this.phase = 'attaching';
    this.user.down(why);
    if (!this.stopped) this.ctx.messages.deviceDisconnected(this.device, 'socket_closed');
  }

  private async bringUp(): Promise<void> {
    if (!this.engine.attached || this.stopped) return;
    try {
      await this.driver.setup();
    } catch (err) {
      if (!isAtError(err, 'closed')) await this.recover(`bring-up failed: ${(err as Error).message}`);
      return;
    }
    this.attachTries = 0;
    await this.attach();
  }

  /** Registration, attach, address, then the socket; while not registered, checks again with backoff. */
  private async attach(): Promise<void> {
    clearTimeout(this.attachTimer);
    if (!this.engine.attached || this.stopped || this.phase === 'ready') return;
    this.phase = 'attaching';
    try {
      await this.driver.powerUp();
      const n = await this.driver.network();
      this.health = { ...this.health, ...n };
      this.healthLeaves();
      if (!isRegistered(n.stat) || !n.attached) return this.waitForNetwork(`${isRegistered(n.stat) ? 'registered but not attached (AT+CGATT? 0)' : `not registered (AT+CEREG stat ${n.stat}: ${STAT[n.stat] ?? 'unknown'})`}`);
      await this.driver.openSocket(this.cfg.nbiot.listen_port);
    } catch (err) {
      if (isAtError(err, 'closed')) return;
      if (isAtError(err, 'timeout') && this.engine.consecutiveTimeouts > 1) return this.recover(`attach: ${(err as Error).message}`);
      // An error code (+CME ERROR, +QIOPEN: 0,566, ...) is the network's answer: ask again later.
      return this.waitForNetwork(`attach failed: ${(err as Error).message}`);
    }
    this.isReady();
  }

  private waitForNetwork(why: string): void {
    const r = this.cfg.nbiot.attach_retry;
    const delay = Math.min(r.max, r.min * 2 ** Math.min(this.attachTries++, 16));
    if (this.waitingSince === undefined) {
      this.waitingSince = Date.now();
      this.ctx.log.warn({ modem: this.cfg.name, why }, `modem ${this.cfg.name}: ${why}; checking again every ${r.min} ms, backing off to ${r.max} ms, until the network takes it`);
    } else {
      this.ctx.log.debug({ modem: this.cfg.name, why, delay }, 'modem: still waiting for the network');
    }
    this.attachTimer = setTimeout(() => void this.exclusive(() => this.attach()), delay);
  }

  private isReady(): void {
    const first = !this.announced;
    this.announced = true;
    this.phase = 'ready';
    this.attachTries = 0;
    const h = this.health;
    const what = `${this.cfg.type} on ${this.cfg.path}, ${STAT[h.stat ?? 4] ?? 'registered'}, address ${h.address ?? '(unknown)'}, UDP port ${this.cfg.nbiot.listen_port} for ${this.cfg.nbiot.protocol}, at most ${this.driver.maxDatagram} bytes per datagram`;
    const fields = { modem: this.cfg.name, address: h.address, port: this.cfg.nbiot.listen_port };
    const down = this.ladder.recovered();
    if (down !== undefined) {
      this.ctx.log.info({ ...fields, down_s: down }, `modem ${this.cfg.name}: recovered; socket open again (${what})`);
    } else if (this.waitingSince !== undefined) {
      const secs = ((Date.now() - this.waitingSince) / 1000).toFixed(1);
      this.ctx.log.info({ ...fields, waited_s: Number(secs) }, `modem ${this.cfg.name}: on the network after ${secs} s; ready: ${what}`);
    } else if (first) {
      this.ctx.log.info(fields, `modem ${this.cfg.name} ready: ${what}`);
    } else {
      this.ctx.log.info(fields, `modem ${this.cfg.name}: socket open again on port ${this.cfg.nbiot.listen_port}`);
    }
    this.waitingSince = undefined;
    this.ctx.messages.deviceConnected(this.device, { proto_name: 'NB-IoT', proto_ver: this.cfg.type, sockport: this.cfg.nbiot.listen_port });
    this.user.up();
    // Signal, operator and address at once, not only after the first health_interval.
    this.checkHealth();
  }

  private onSocketClosed(why: string): void {
    if (this.phase !== 'ready') return;
    this.stats.socketReopens.inc();
    this.warn('closed', { why }, `modem ${this.cfg.name}: socket closed (${why}); opening it again`);
    this.goDown(why);
    this.attachTries = 0;
    void this.exclusive(() => this.attach());
  }

  private onReboot(banner: string): void {
    this.stats.reboots.inc();
    this.goDown(`module rebooted (${banner})`);
    this.phase = 'starting';
    this.warn('reboot', { banner }, `modem ${this.cfg.name}: module rebooted on its own ("${banner}"); setting it up and opening the socket again`);
    void this.exclusive(() => this.bringUp());
  }

  /** Trouble: the socket goes down and the recovery ladder (recovery.ts) is climbed. */
  private async recover(reason: string): Promise<void> {
    if (!this.engine.attached || this.stopped) return;
    this.goDown(reason);
    this.phase = 'recovering';
    this.stats.recoveries.inc();
    await this.ladder.climb(reason);
  }

  private probe(): void {
    if (this.phase !== 'ready' || this.engine.busy) return;
    void this.exclusive(async () => {
      if (this.phase !== 'ready') return;
      try {
        await this.driver.ping(this.cfg.timeouts.command);
        if (!this.driver.socketOpen) this.onSocketClosed('the socket is no longer open');
      } catch (err) {
        if (!isAtError(err, 'closed')) await this.recover(`liveness probe failed: ${(err as Error).message}`);
      }
    });
  }

  /** Signal, registration, operator and address: metrics, and a retained nbiot/{name}/status. */
  private checkHealth(): void {
    if (this.phase !== 'ready' && this.phase !== 'attaching') return;
    void this.exclusive(async () => {
      if (this.phase !== 'ready' && this.phase !== 'attaching') return;
      try {
        this.health = await this.driver.health();
      } catch (err) {
        if (isAtError(err, 'timeout')) await this.recover(`health check: ${(err as Error).message}`);
        return;
      }
      this.publishStatus();
      if (this.phase === 'ready' && !isRegistered(this.health.stat ?? 0)) {
        this.goDown('registration lost');
        this.attachTries = 0;
        this.waitForNetwork(`registration lost (AT+CEREG stat ${this.health.stat}: ${STAT[this.health.stat ?? 4] ?? 'unknown'})`);
      }
    });
  }

  /** The health leaves in $SYS: each published when it changes; unknown ones removed. */
  private healthLeaves(): void {
    const h = this.health;
    this.leaves.set({ registration: h.stat, attached: h.attached, address: h.address, operator: h.operator, csq: h.csq, rssi_dbm: csqDbm(h.csq ?? 99) });
  }

  private publishStatus(): void {
    this.healthLeaves();
    const h = this.health;
    const body = { modem: this.cfg.name, type: this.cfg.type, ready: this.phase === 'ready', registration: h.stat, registered: isRegistered(h.stat ?? 0), attached: h.attached, address: h.address ?? null, operator: h.operator ?? null, csq: h.csq, rssi_dbm: csqDbm(h.csq ?? 99) ?? null, port: this.cfg.nbiot.listen_port, protocol: this.cfg.nbiot.protocol, ts: Date.now() };
    this.ctx.messages.publish({ topic: `nbiot/${this.cfg.name}/status`, payload: JSON.stringify(body), retain: true, device: this.device }).catch((err: Error) => {
      this.warn('status', { err: err.message }, `modem ${this.cfg.name}: health not published on nbiot/${this.cfg.name}/status: ${err.message} (docs/modem.md, NB-IoT access control)`);
    });
    // One write at a time, in order: two renames racing could leave the older snapshot in place.
    const snapshot = { ...body, health_interval: this.cfg.health_interval };
    this.saving = this.saving.then(() => this.saveHealth(snapshot));
  }

  /**
   * The same, in <data_dir>/nbiot-<name>.json, where `fieldgate doctor` (another process) reads it.
   * Replaced atomically; not fsync'd: it is a snapshot, rewritten every health_interval.
   */
  private async saveHealth(body: object): Promise<void> {
    if (this.ctx.dataDir === undefined) return;
    const file = join(resolve(this.ctx.dataDir), `nbiot-${this.cfg.name}.json`);
    try {
      await writeFile(`${file}.tmp`, JSON.stringify(body));
      await rename(`${file}.tmp`, file);
    } catch (err) {
      this.warn('health-file', { file, err: (err as Error).message }, `modem ${this.cfg.name}: cannot write ${file} for fieldgate doctor: ${(err as Error).message}`);
    }
  }
}
