import { Allowlist } from './allow.ts';
import type { BleConfig } from './config.ts';
import { decodeAdvert, type Advert, type DecodeOptions, type Value } from './decoders/index.ts';
import { deviceId } from './advert.ts';
import { Freshness } from './freshness.ts';
import { Presence } from '../lib/presence.ts';
import type { BleStats } from './stats.ts';
import { Throttle } from './throttle.ts';

// From advertisement to publish decision: decode, allowlist, freshness (repeats, replays,
// downgrades), presence, change-only/min-interval throttle. No I/O: the adapter gives the sinks.

export interface IngestSinks {
  publish(id: string, address: string, body: Record<string, unknown>): void;
  online(id: string, address: string): void;
  /** Heard again (at most every 10 s per device): the registry's last-seen time. */
  seen(id: string, address: string): void;
  offline(id: string, address: string): void;
  /** A problem worth a (rate-limited) log line: decode error, replay, downgrade. */
  problem(id: string, kind: string, message: string): void;
}

export class Ingest {
  private readonly allow: Allowlist;
  private readonly freshness = new Freshness();
  private readonly throttle: Throttle;
  readonly presence: Presence;
  private readonly addresses = new Map<string, string>();
  /** The decode options for an address not listed: only user decoders whose format is allowed. */
  private readonly formatDecode: DecodeOptions;
  private admitted = 0;
  private windowStart = 0;

  constructor(
    private readonly cfg: BleConfig,
    private readonly decode: DecodeOptions,
    private readonly stats: BleStats,
    private readonly sinks: IngestSinks,
  ) {
    this.allow = new Allowlist(cfg);
    const formats = new Set(cfg.allow.formats);
    this.formatDecode = { ...decode, user: decode.user?.filter((u) => formats.has('*') || formats.has(u.name)) };
    this.throttle = new Throttle({ changeOnly: cfg.publish.change_only, minInterval: cfg.publish.min_interval, heartbeat: cfg.publish.heartbeat });
    this.presence = new Presence(
      cfg.presence_timeout,
      (id) => sinks.online(id, this.addresses.get(id) ?? id),
      (id) => {
        sinks.offline(id, this.addresses.get(id) ?? id);
        this.addresses.delete(id);
        this.freshness.forget(id);
      },
    );
  }

  accept(ad: Advert): void {
    this.stats.adverts.inc();
    if (ad.rssi !== undefined && ad.rssi < this.cfg.publish.min_rssi) {
      this.stats.weak.inc();
      return;
    }
    // A user decoder runs for an address allowed by its address, or when its own format is
    // allowed: a neighbour cannot make every decoder run on its adverts.
    const r = decodeAdvert(ad, this.allow.listed(ad.address) ? this.decode : this.formatDecode);
    if (!this.allow.allows(ad.address, r)) {
      this.stats.notAllowed.inc();
      return;
    }
    const id = deviceId(ad.address);
    if (!this.addresses.has(id) && !this.allow.listed(ad.address) && !this.admit()) {
      this.stats.admissionLimited.inc();
      return;
    }
    this.addresses.set(id, ad.address);
    if (this.presence.seen(id, r?.ok === true && r.meta?.triggerBased === true)) this.sinks.seen(id, ad.address);
    if (r && !r.ok) {
      this.stats.decodeErrors.inc();
      this.sinks.problem(id, 'decode', `${r.format}: ${r.error}`);
      return;
    }
    let format = 'raw';
    let values: Record<string, Value>;
    if (r) {
      this.stats.decoded.inc();
      const verdict = this.freshness.check(id, r, this.decode.bindkeys?.has(ad.address) === true);
      if (verdict === 'repeat') return void this.stats.repeats.inc();
      if (verdict === 'replay') {
        this.stats.replays.inc();
        return this.sinks.problem(id, 'replay', `encrypted counter ${r.meta?.counter} did not increase: dropped as a replay`);
      }
      if (verdict === 'downgrade') {
        this.stats.downgrades.inc();
        return this.sinks.problem(id, 'downgrade', `unencrypted ${r.format} advertisement from a device with a bindkey: ignored (spoofing or a reset device)`);
      }
      if (!hasReading(r.values)) return void this.stats.empty.inc();
      format = r.format;
      values = r.values;
    } else {
      values = rawValues(ad);
    }
    const rssi = ad.rssi;
    const outcome = this.throttle.offer(id, values, () => this.sinks.publish(id, ad.address, { ...values, ...(rssi !== undefined ? { rssi } : {}), format, ts: Date.now() }));
    if (outcome === 'unchanged') this.stats.unchanged.inc();
  }

  /** A device allowed only by its format is new: within allow.new_devices_per_minute? */
  private admit(): boolean {
    const now = Date.now();
    if (now - this.windowStart >= 60_000) {
      this.windowStart = now;
      this.admitted = 0;
    }
    if (this.admitted >= this.cfg.allow.new_devices_per_minute) return false;
    this.admitted++;
    return true;
  }

  /**
   * An operator's kick: the device is no longer online and its freshness state (last counter,
   * encryption seen) is forgotten, as after a presence timeout. Returns its address, or undefined
   * if it was not online. Its next allowed advertisement makes it online again.
   */
  forget(id: string): string | undefined {
    if (!this.presence.drop(id)) return undefined;
    const address = this.addresses.get(id) ?? id;
    this.addresses.delete(id);
    this.freshness.forget(id);
    return address;
  }

  start(): void {
    this.presence.start();
  }

  stop(): void {
    this.throttle.close();
    this.presence.stop();
  }
}

/** Keys that say which packet or device, not what it measured. */
const NOT_READINGS = new Set(['mac', 'packet', 'seq']);

/** A payload that decodes but carries no reading (a bare BTHome packet id, a Ruuvi with every field invalid). */
function hasReading(values: Record<string, Value>): boolean {
  return Object.keys(values).some((k) => !NOT_READINGS.has(k));
}

/** An allowed device no decoder knows: its raw advertisement fields, Theengs-style. */
function rawValues(ad: Advert): Record<string, Value> {
  const v: Record<string, Value> = {};
  if (ad.name) v.name = ad.name;
  if (ad.manufacturerData) v.manufacturerdata = ad.manufacturerData.toString('hex');
  const sd = ad.serviceData[0];
  if (sd) {
    v.servicedata = sd.data.toString('hex');
    v.servicedatauuid = sd.uuid;
  }
  return v;
}
