import type { AdapterContext } from '../../gateway/core/adapter.ts';

type Counter = ReturnType<AdapterContext['metrics']['counter']>;

/** The adapter's counters, created once so the per-advertisement path does no name lookups. */
export class BleStats {
  readonly adverts: Counter;
  readonly decoded: Counter;
  readonly decodeErrors: Counter;
  readonly notAllowed: Counter;
  readonly weak: Counter;
  readonly repeats: Counter;
  readonly replays: Counter;
  readonly downgrades: Counter;
  readonly published: Counter;
  readonly unchanged: Counter;
  readonly publishFailed: Counter;
  readonly scanRestarts: Counter;
  readonly gattCommands: Counter;
  readonly gattErrors: Counter;
  readonly notifications: Counter;
  readonly admissionLimited: Counter;
  readonly radioRenewals: Counter;
  readonly queueDropped: Counter;
  readonly empty: Counter;
  readonly decoderTimeouts: Counter;
  readonly decoderTrips: Counter;

  constructor(metrics: AdapterContext['metrics']) {
    this.adverts = metrics.counter('adverts/received');
    this.decoded = metrics.counter('adverts/decoded');
    this.decodeErrors = metrics.counter('adverts/decode_errors');
    this.notAllowed = metrics.counter('adverts/not_allowed');
    this.weak = metrics.counter('adverts/below_min_rssi');
    this.repeats = metrics.counter('adverts/repeats');
    this.replays = metrics.counter('adverts/replays');
    this.downgrades = metrics.counter('adverts/downgrades');
    this.published = metrics.counter('messages/published');
    this.unchanged = metrics.counter('messages/unchanged');
    this.publishFailed = metrics.counter('messages/publish_failed');
    this.scanRestarts = metrics.counter('scan/restarts');
    this.gattCommands = metrics.counter('gatt/commands');
    this.gattErrors = metrics.counter('gatt/errors');
    this.notifications = metrics.counter('gatt/notifications');
    this.admissionLimited = metrics.counter('adverts/admission_limited');
    this.radioRenewals = metrics.counter('radio/renewals');
    this.queueDropped = metrics.counter('adverts/queue_dropped');
    this.empty = metrics.counter('adverts/no_readings');
    this.decoderTimeouts = metrics.counter('user_decoders/timeouts');
    this.decoderTrips = metrics.counter('user_decoders/tripped');
  }
}
