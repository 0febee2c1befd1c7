import type { AdapterContext, DeliveredMessage, Subscription } from '../../gateway/core/adapter.ts';
import { MAX_PAYLOAD, V2, encodeData } from './codec.ts';

/**
 * The last N uplink message ids a device used and the ACK code each got. Typed arrays and a linear
 * scan instead of a Map: 256 ids cost 768 bytes, and a scan of 256 numbers is cheaper than it looks.
 */
export class DedupWindow {
  private readonly ids: Uint16Array;
  private readonly codes: Uint8Array;
  private size = 0;
  private head = 0;

  constructor(capacity: number) {
    this.ids = new Uint16Array(capacity);
    this.codes = new Uint8Array(capacity);
  }

  get(id: number): number | undefined {
    const k = this.find(id);
    return k < 0 ? undefined : this.codes[k];
  }

  /** Remembers `id`, forgetting the oldest once full. An id already present is updated in place. */
  set(id: number, code: number): void {
    const k = this.find(id);
    if (k >= 0) {
      this.codes[k] = code;
      return;
    }
    this.ids[this.head] = id;
    this.codes[this.head] = code;
    this.head = (this.head + 1) % this.ids.length;
    if (this.size < this.ids.length) this.size++;
  }

  /** Forgets `id` (it now names a new message), keeping the others in their order. */
  delete(id: number): void {
    const k = this.find(id);
    if (k < 0) return;
    const cap = this.ids.length;
    // Close the gap: every newer entry moves one slot back, and the next write goes where the newest was.
    for (let at = k, next = (k + 1) % cap; next !== this.head; at = next, next = (next + 1) % cap) {
      this.ids[at] = this.ids[next]!;
      this.codes[at] = this.codes[next]!;
    }
    this.head = (this.head - 1 + cap) % cap;
    this.size--;
  }

  /** The slot holding `id`, or -1. The entries are the `size` slots before `head`, oldest first. */
  private find(id: number): number {
    const cap = this.ids.length;
    for (let j = 0, k = (this.head - this.size + cap) % cap; j < this.size; j++, k = (k + 1) % cap) if (this.ids[k] === id) return k;
    return -1;
  }
}

/** A counter of the gateway's metrics (adapters see metrics only through their context). */
export type Counter = ReturnType<AdapterContext['metrics']['counter']>;

/** What a session needs from the connection it is attached to. */
export interface DownlinkSink {
  readonly version: number;
  /** Writes one frame; false when the socket's send buffer is over its bound (a slow device). */
  send(frame: Buffer): boolean;
}

export interface SessionStats {
  sent: Counter;
  retransmitted: Counter;
  droppedQueueFull: Counter;
  droppedTooLarge: Counter;
  droppedSlow: Counter;
  droppedOffline: Counter;
}

export interface SessionLimits {
  inflightWindow: number;
  maxQueued: number;
  retryInterval: number;
  dedupWindow: number;
}

interface Inflight {
  msg: DeliveredMessage;
  sentAt: number;
}

/**
 * The state of one client id that can outlive its TCP connection: the downlink subscription, the
 * queue and the QoS 1 downlinks in flight (kept across a reconnect when the device asked to resume),
 * and the uplink ids already accepted (kept for every v2 device, so a retransmission after a dropped
 * connection is re-acked, not published twice).
 */
export class DeviceSession {
  private ids?: DedupWindow;
  /** Uplinks whose publish has not settled yet, by id: a duplicate waits for the same outcome. */
  readonly pending = new Map<number, Promise<number>>();
  sink?: DownlinkSink;
  subscription?: Subscription;
  /** Whether downlinks are queued while the device is away. */
  resumable = false;
  private queue: DeliveredMessage[] = [];
  private readonly inflight = new Map<number, Inflight>();
  private nextId = 1;
  private retryTimer?: NodeJS.Timeout;
  expiryTimer?: NodeJS.Timeout;

  constructor(readonly clientid: string, private readonly limits: SessionLimits, private readonly stats: SessionStats) {}

  /** Created on the first QoS 1 uplink: v1 devices, most of an idle fleet, never pay for it. */
  get dedup(): DedupWindow {
    this.ids ??= new DedupWindow(this.limits.dedupWindow);
    return this.ids;
  }

  /** The subscription's callback: MQTT message on dn_topic -> DATATRANS to the device. */
  deliver(msg: DeliveredMessage): void {
    if (msg.payload.length > MAX_PAYLOAD - 2) {
      this.stats.droppedTooLarge.inc();
      return;
    }
    const sink = this.sink;
    if (!sink && !this.resumable) {
      // Between a clean disconnect and the unsubscribe taking effect: nobody to hold it for.
      this.stats.droppedOffline.inc();
      return;
    }
    if (msg.qos === 0 || (sink && sink.version !== V2)) {
      // QoS 0, or a v1 device (which has no acknowledgement): at most once, like emqx-tcp.
      if (sink) {
        if (sink.send(encodeData(msg.payload))) this.stats.sent.inc();
        else this.stats.droppedSlow.inc();
      } else if (this.resumable) this.enqueue(msg);
      else this.stats.droppedOffline.inc();
      return;
    }
    this.enqueue(msg);
    this.pump();
  }

  private enqueue(msg: DeliveredMessage): void {
    this.queue.push(msg);
    if (this.queue.length > this.limits.maxQueued) {
      this.queue.shift();
      this.stats.droppedQueueFull.inc();
    }
  }

  /** Sends queued downlinks while the window has room. */
  pump(): void {
    const sink = this.sink;
    if (!sink) return;
    while (this.queue.length > 0 && this.inflight.size < this.limits.inflightWindow) {
      const msg = this.queue.shift() as DeliveredMessage;
      if (msg.qos === 0 || sink.version !== V2) {
        if (sink.send(encodeData(msg.payload))) this.stats.sent.inc();
        else this.stats.droppedSlow.inc();
        continue;
      }
      const id = this.allocId();
      this.inflight.set(id, { msg, sentAt: Date.now() });
      sink.send(encodeData(msg.payload, { id }));
      this.stats.sent.inc();
    }
    this.armRetry();
  }

  /** The device acknowledged downlink `id`. Unknown ids (a late ACK of a resent frame) are ignored. */
  acked(id: number): void {
    if (this.inflight.delete(id)) this.pump();
    if (this.inflight.size === 0) this.disarmRetry();
  }

  /** A device resumed: everything unacknowledged goes again, marked DUP, before anything new. */
  resend(): void {
    const sink = this.sink;
    if (!sink) return;
    const now = Date.now();
    for (const [id, f] of this.inflight) {
      sink.send(encodeData(f.msg.payload, { id, dup: true }));
      f.sentAt = now;
      this.stats.retransmitted.inc();
    }
    this.pump();
  }

  /** Forgets downlinks (a clean connect, a non-resumable disconnect, expiry). */
  dropDownlinks(): void {
    const n = this.queue.length + this.inflight.size;
    if (n > 0) this.stats.droppedOffline.inc(n);
    this.queue = [];
    this.inflight.clear();
    this.disarmRetry();
  }

  detach(): void {
    this.sink = undefined;
    this.disarmRetry();
  }

  private allocId(): number {
    // 1..65535, skipping ids still in flight (at most inflight_window of them).
    for (;;) {
      const id = this.nextId;
      this.nextId = this.nextId === 0xffff ? 1 : this.nextId + 1;
      if (!this.inflight.has(id)) return id;
    }
  }

  private armRetry(): void {
    if (this.retryTimer || this.inflight.size === 0 || !this.sink) return;
    this.retryTimer = setTimeout(() => this.retry(), this.limits.retryInterval);
    this.retryTimer.unref();
  }

  private disarmRetry(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  private retry(): void {
    this.retryTimer = undefined;
    const sink = this.sink;
    if (!sink) return;
    const due = Date.now() - this.limits.retryInterval;
    for (const [id, f] of this.inflight) {
      if (f.sentAt > due) continue;
      sink.send(encodeData(f.msg.payload, { id, dup: true }));
      f.sentAt = Date.now();
      this.stats.retransmitted.inc();
    }
    this.armRetry();
  }

  /** Releases the subscription, the downlinks and the timers. The uplink id window stays. */
  async clear(): Promise<void> {
    this.dropDownlinks();
    this.detach();
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    const sub = this.subscription;
    this.subscription = undefined;
    await sub?.unsubscribe();
  }
}
