import type { Adapter, AdapterContext, DeviceIdentity } from '../../gateway/core/adapter.ts';
import { advertOf, deviceId } from './advert.ts';
import type { BleConfig } from './config.ts';
import { decoderOptions } from './decoder-set.ts';
import type { DecodeOptions } from './decoders/index.ts';
import { GattEngine } from './gatt.ts';
import { parseGattCommand } from './gatt-command.ts';
import { AdvertQueue } from './advert-queue.ts';
import { Ingest } from './ingest.ts';
import { guardSigint, hciNoble, releaseNoble, type NobleFactory, type NobleLike, type Peripheral } from './radio.ts';
import { Scanner } from './scanner.ts';
import { BleStats } from './stats.ts';
import { moreSuffix, RateLimitedLog } from '../../gateway/core/log-limit.ts';

/**
 * The BLE adapter: scans with noble, decodes advertisements (adapters/ble/decoders), publishes
 * allowed devices on ble/{id}/up with presence, and runs GATT commands from ble/{id}/dn.
 * docs/ble.md describes it for users.
 */

const ID = /^[0-9a-f]{12}$/;
/** Peripherals kept for GATT commands (noble keeps its own map too; this one is bounded). */
const MAX_PERIPHERALS = 2000;
/** Adverts waiting to be handled, handled per event-loop turn, unsettled publishes (advert-queue.ts). */
const QUEUE = { max: 4096, batch: 100, maxInFlight: 200 };

export interface BleAdapterOptions {
  /**
   * Where noble comes from: a new instance per call, owned (and stopped) by the adapter. The real
   * HCI radio by default; the simulator passes noble over its bindings.
   */
  noble?: NobleFactory;
}

export class BleAdapter implements Adapter {
  private scanner?: Scanner;
  /** The noble instance in use; replaced past max_seen_addresses, stopped with the adapter. */
  private noble?: NobleLike;
  private ingest?: Ingest;
  /** Bindkeys and user decoders (each user decoder has a worker, ended at stop). */
  private decode?: DecodeOptions;
  private queue?: AdvertQueue;
  private gatt?: GattEngine;
  private unsubscribe?: () => Promise<void>;
  private readonly peripherals = new Map<string, Peripheral>();
  /** The adapter's repeatable lines, one RateLimitedLog per level. */
  private readonly logs = new Map<'warn' | 'info' | 'debug', RateLimitedLog>();
  /** Distinct addresses the current noble instance has reported (bounded by max_seen_addresses). */
  private readonly seen = new Set<string>();
  private renewing = false;
  private stopped = false;
  private messages?: AdapterContext['messages'];

  constructor(private readonly cfg: BleConfig, private readonly opts: BleAdapterOptions) {}

  async start(ctx: AdapterContext): Promise<void> {
    const cfg = this.cfg;
    this.stopped = false;
    this.renewing = false;
    this.messages = ctx.messages;
    const stats = new BleStats(ctx.metrics);
    const ingest = this.startIngest(ctx, stats);
    await this.startScanner(ctx, stats);
    if (!this.opts.noble) guardSigint();
    ingest.start();
    this.startGatt(ctx, stats);
    const sub = await ctx.messages.subscribe('ble/+/dn', (msg) => this.onCommand(ctx, stats, msg.topic, msg.payload));
    this.unsubscribe = () => sub.unsubscribe();
    ctx.metrics.gaugeFn('devices/online', () => ingest.presence.online);
    ctx.metrics.gaugeFn('gatt/connections', () => this.gatt?.connections ?? 0);
    ctx.log.info({ hci: `hci${cfg.hci_device}`, allow: { addresses: cfg.allow.addresses.length + cfg.devices.size, formats: cfg.allow.formats } }, 'BLE scanning');
  }

  /** Advertisement -> publish decision (ingest.ts), with the gateway as its sinks. */
  private startIngest(ctx: AdapterContext, stats: BleStats): Ingest {
    const cfg = this.cfg;
    const identity = (id: string, address: string): DeviceIdentity => ({ protocol: 'ble', transport: 'ble', id, address });
    const breaker = {
      onTimeout: () => stats.decoderTimeouts.inc(),
      onTrip: (_kind: string, message: string) => {
        stats.decoderTrips.inc();
        ctx.log.warn(message);
      },
    };
    const decode = (this.decode = decoderOptions(cfg, breaker));
    this.ingest = new Ingest(cfg, decode, stats, {
      publish: (id, address, body) => {
        const settled = this.queue?.publishing() ?? (() => {});
        ctx.messages.publish({ topic: `ble/${id}/up`, payload: JSON.stringify(body), qos: cfg.publish.qos, device: identity(id, address) }).then(
          () => {
            settled();
            stats.published.inc();
          },
          (err: Error) => {
            settled();
            stats.publishFailed.inc();
            this.warn(ctx, `publish:${id}`, { device: id, err: err.message }, 'BLE reading not published');
          },
        );
      },
      online: (id, address) => ctx.messages.deviceConnected(identity(id, address), { proto_name: 'BLE' }),
      seen: (id, address) => ctx.messages.deviceSeen(identity(id, address)),
      offline: (id, address) => ctx.messages.deviceDisconnected(identity(id, address), 'presence_timeout'),
      problem: (id, kind, message) => this.warn(ctx, `${kind}:${id}`, { device: id }, `BLE device ${id}: ${message}`),
    });
    const ingest = this.ingest;
    this.queue = new AdvertQueue({ ...QUEUE, handle: (ad) => ingest.accept(ad), dropped: () => stats.queueDropped.inc() });
    return ingest;
  }

  /**
   * Scans on a new noble instance; each advertisement goes to the ingest. Rejects with a
   * RadioUnavailable (the instance is released then).
   */
  private async startScanner(ctx: AdapterContext, stats: BleStats): Promise<void> {
    const cfg = this.cfg;
    this.seen.clear();
    const noble = (this.noble = (this.opts.noble ?? hciNoble)(cfg.hci_device));
    const scanner = new Scanner(noble, cfg.hci_device, {
      advert: (p) => {
        this.countSeen(ctx, stats, p.address);
        const ad = advertOf(p);
        this.remember(deviceId(ad.address), p);
        this.queue?.push(ad);
      },
      lost: (err) => ctx.fail(err),
      warning: (message) => this.warn(ctx, 'noble', {}, `noble: ${message}`, 'debug'),
      restarted: () => {
        stats.scanRestarts.inc();
        // Two programs fighting over the scan state would repeat this every second.
        this.warn(ctx, 'scan-restart', {}, 'BLE scanning was stopped by another program; started it again', 'info');
      },
    });
    this.scanner = scanner;
    try {
      await scanner.start(cfg.radio_timeout);
    } catch (err) {
      scanner.stop();
      this.releaseRadio();
      throw err;
    }
  }

  /** Stops the scanner and releases noble: the HCI socket and every peripheral it remembered. */
  private releaseRadio(): void {
    this.scanner?.stop();
    this.scanner = undefined;
    if (this.noble) releaseNoble(this.noble);
    this.noble = undefined;
  }

  /**
   * noble keeps every address it has heard (a peripheral object of about 1 KB each, in noble and in
   * its HCI layer) for the life of the instance, and has no call to forget one. Past
   * max_seen_addresses the instance is stopped and replaced by a fresh one, which releases them all.
   */
  private countSeen(ctx: AdapterContext, stats: BleStats, address: string): void {
    if (this.seen.has(address)) return;
    this.seen.add(address);
    if (this.seen.size <= this.cfg.max_seen_addresses || this.renewing) return;
    // An open GATT connection lives on the old instance: try again with the next new address.
    if ((this.gatt?.connections ?? 0) > 0) return;
    this.renewing = true;
    // Not from inside noble's discover event: its bindings are still dispatching the report.
    setImmediate(() => this.renew(ctx, stats, this.seen.size));
  }

  private renew(ctx: AdapterContext, stats: BleStats, heard: number): void {
    if (this.stopped) return;
    this.releaseRadio();
    this.peripherals.clear();
    stats.radioRenewals.inc();
    ctx.log.info({ addresses: heard }, 'BLE: noble heard max_seen_addresses distinct addresses; replaced it with a fresh instance to release them');
    this.startScanner(ctx, stats).then(
      () => (this.renewing = false),
      (err: Error) => {
        this.renewing = false;
        if (!this.stopped) ctx.fail(err);
      },
    );
  }

  /** GATT commands from ble/{id}/dn on the peripherals the scanner has heard. */
  private startGatt(ctx: AdapterContext, stats: BleStats): void {
    const cfg = this.cfg;
    this.gatt = new GattEngine(
      { maxConnections: cfg.gatt.max_connections, connectTimeout: cfg.gatt.connect_timeout, commandTimeout: cfg.gatt.command_timeout, idleTimeout: cfg.gatt.idle_timeout, maxQueued: cfg.gatt.max_queued },
      {
        peripheral: (id) => this.peripherals.get(id),
        respond: (id, body) => {
          if (body.ok === false) stats.gattErrors.inc();
          this.publishAux(ctx, id, 'resp', body);
        },
        notification: (id, body) => {
          stats.notifications.inc();
          this.publishAux(ctx, id, 'notify', body);
        },
        pauseScanning: () => this.scanner?.pause(),
        resumeScanning: () => this.scanner?.resume(),
      },
    );
  }

  private onCommand(ctx: AdapterContext, stats: BleStats, topic: string, payload: Buffer): void {
    const id = topic.split('/')[1] ?? '';
    if (!ID.test(id)) {
      this.warn(ctx, `topic:${id}`, { topic }, 'BLE command ignored: the device id in ble/{id}/dn is 12 lower-case hex digits (the address without colons)');
      return;
    }
    stats.gattCommands.inc();
    const parsed = parseGattCommand(payload);
    if ('error' in parsed) {
      stats.gattErrors.inc();
      this.publishAux(ctx, id, 'resp', { id: parsed.id, ok: false, error: parsed.error });
      return;
    }
    this.gatt?.submit(id, parsed.cmd);
  }

  private publishAux(ctx: AdapterContext, id: string, kind: 'resp' | 'notify', body: Record<string, unknown>): void {
    const p = this.peripherals.get(id);
    const device: DeviceIdentity = { protocol: 'ble', transport: 'ble', id, address: p?.address };
    ctx.messages.publish({ topic: `ble/${id}/${kind}`, payload: JSON.stringify(body), qos: 1, device }).catch((err: Error) => {
      this.warn(ctx, `${kind}:${id}`, { device: id, err: err.message }, `BLE ${kind} message not published`);
    });
  }

  private remember(id: string, p: Peripheral): void {
    if (this.peripherals.has(id)) this.peripherals.delete(id);
    else if (this.peripherals.size >= MAX_PERIPHERALS) this.peripherals.delete(this.peripherals.keys().next().value!);
    this.peripherals.set(id, p);
  }

  /** One line per key (device and kind of problem) per minute: a device repeats itself several times a second. */
  private warn(ctx: AdapterContext, key: string, fields: Record<string, unknown>, msg: string, level: 'warn' | 'info' | 'debug' = 'warn'): void {
    let log = this.logs.get(level);
    if (!log) {
      log = new RateLimitedLog({ intervalMs: 60_000, write: (f, m) => ctx.log[level](f, m), tail: true });
      this.logs.set(level, log);
    }
    log.event(key, (more) => ({ fields: more ? { ...fields, more } : fields, msg: `${msg}${moreSuffix(more, 60_000)}` }));
  }

  /**
   * An operator's kick: the GATT connection is closed (queued commands answered with an error) and
   * the device is reported offline with `reason`, its presence and freshness state forgotten. A
   * device that keeps advertising is online again at its next allowed advertisement.
   */
  async disconnect(id: string, reason: string): Promise<boolean> {
    const address = this.ingest?.forget(id);
    const gatt = (await this.gatt?.drop(id, reason)) ?? false;
    if (address !== undefined) this.messages?.deviceDisconnected({ protocol: 'ble', transport: 'ble', id, address }, reason);
    return address !== undefined || gatt;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.scanner?.stop();
    this.queue?.close();
    this.queue = undefined;
    this.ingest?.stop();
    this.ingest = undefined;
    await Promise.all((this.decode?.user ?? []).map((u) => u.close()));
    this.decode = undefined;
    await this.gatt?.close();
    this.gatt = undefined;
    await this.unsubscribe?.();
    this.unsubscribe = undefined;
    // After GATT: its disconnects go through this noble.
    this.releaseRadio();
    this.peripherals.clear();
    this.seen.clear();
    for (const log of this.logs.values()) log.clear();
    this.logs.clear();
  }
}
