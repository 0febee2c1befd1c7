import type { MqttClient } from 'mqtt';
import { backoffDelay } from '../core/backoff.ts';
import type { Counter } from '../metrics/metrics.ts';
import { OutgoingFormat, type Outgoing, type OutgoingDeps } from './outgoing.ts';
import { topicBucket } from './record.ts';
import { BUCKETS, type LaneStore, type Pos, type ReadRecord } from './store.ts';

/**
 * PUBACK reason codes after which the server will never take the message as it is: it is dropped
 * (counted as `failed`). Every other code >= 0x80 (0x80 unspecified, 0x83 implementation specific,
 * 0x87 not authorized, 0x91 packet identifier in use, 0x97 quota exceeded, and any code not listed
 * here) is taken as temporary: the message is resent, in order, after a backoff. Keep in sync with
 * docs/bridge.md.
 */
export const PERMANENT_PUBACK_CODES: ReadonlySet<number> = new Set([
  0x90, // topic name invalid
  0x95, // packet too large
  0x99, // payload format invalid
  0x9a, // retain not supported
  0x9b, // QoS not supported
]);

/**
 * Connection losses in a row while the same message is a lane's oldest unacknowledged one, after
 * which it is taken for a poison message (one the server disconnects over, e.g. larger than its
 * packet limit) and dropped as `failed`: otherwise it would be resent after every reconnect and
 * block the upstream for good.
 */
export const POISON_LOSSES = 3;

/** Bytes fetched from a lane per read: small enough to keep RSS flat, large enough to amortise. */
const READ_BYTES = 128 * 1024;

interface Cursor {
  /** Where the next read starts. */
  pos: Pos;
  /** Read but not yet dispatched: buf[i..]. */
  buf: ReadRecord[];
  i: number;
  /** Exclusive seq bound (the backlog ends where live traffic began). */
  limit: number;
  reading: boolean;
}

export type LaneName = 'high' | 'normal';

interface Lane {
  name: LaneName;
  store: LaneStore;
  live: Cursor;
  /** While replaying a large backlog: the records queued before the connection came up. */
  backlog?: Cursor;
  /** Per ordering bucket, the newest seq at the split; a live record waits while its bucket's backlog is unsent. */
  snapshot?: Float64Array;
  credit: number;
  /** seq -> position, for the messages handed to MQTT.js and not yet acknowledged. */
  inflight: Map<number, Pos>;
  /** Where to resume after a reconnect (the acknowledged watermark). */
  resume: Pos;
  /** The oldest unacknowledged message at the last connection losses, and how many losses in a row. */
  suspect?: { seq: number; losses: number };
  /** A message found to be poison: dropped the next time its turn comes. */
  poison?: number;
}

export interface ConsumerDeps extends OutgoingDeps {
  bit: number;
  lanes: Record<LaneName, LaneStore>;
  start: Partial<Record<LaneName, Pos>>;
  counters: { forwarded: Counter; upstreamForwarded: Counter; expired: Counter; failed: Counter; noRule: Counter; tooLarge: Counter };
  /** A temporary PUBACK refusal: sending pauses for `waitMs`, then resumes from the watermark. */
  onRefused?: (why: string, waitMs: number) => void;
}

function cursor(pos: Pos, limit = Infinity): Cursor {
  return { pos, buf: [], i: 0, limit, reading: false };
}

function head(c: Cursor | undefined): ReadRecord | undefined {
  return c && c.i < c.buf.length ? c.buf[c.i] : undefined;
}

function nextPos(c: Cursor): Pos {
  return c.i < c.buf.length ? c.buf[c.i]!.at : c.pos;
}

/**
 * Feeds one upstream from the shared log, within its inflight window, only while connected.
 * The high lane always goes first. In the normal lane, after a reconnect with a large backlog, the
 * backlog and the messages arriving now are read by two cursors and interleaved
 * (`replay.backlog_share`), so live data is not stuck behind hours of replay; a live message still
 * waits while an older message of its topic (its ordering bucket) is unsent, which keeps per-topic
 * order. Acknowledged positions advance as a watermark: everything before it was PUBACKed.
 */
export class Consumer {
  private client?: MqttClient;
  private gen = 0;
  /** Consecutive temporary PUBACK refusals (reset by a successful PUBACK). */
  private refusals = 0;
  private holdTimer?: NodeJS.Timeout;
  private pumpQueued = false;
  /** The lane of the record `take()` returned last. */
  private takenFrom?: Lane;
  private readonly lanes: Lane[];
  private readonly mask: number;
  private readonly outgoing: OutgoingFormat;

  constructor(private readonly deps: ConsumerDeps) {
    this.mask = 2 ** deps.bit;
    this.outgoing = new OutgoingFormat(deps);
    this.lanes = (['high', 'normal'] as const).map((name) => {
      const store = deps.lanes[name];
      const head = store.headPos();
      const end = store.endPos();
      const checkpoint = deps.start[name];
      const saved = checkpoint && store.fromCheckpoint(checkpoint);
      // A checkpoint past the end can only come from a log cut short by damage: resume at the end.
      const resume = !saved || saved.seq <= head.seq ? head : saved.seq > end.seq ? end : saved;
      return { name, store, live: cursor(resume), credit: 0, inflight: new Map(), resume };
    });
    for (const l of this.lanes) l.store.on('durable', () => this.pump());
  }

  get name(): string {
    return this.deps.cfg.name;
  }

  /** Messages handed to the upstream and not yet acknowledged. */
  get inflight(): number {
    return this.lanes[0]!.inflight.size + this.lanes[1]!.inflight.size;
  }

  /** The oldest position not yet acknowledged, per lane: the checkpoint. */
  watermark(name: LaneName): Pos {
    const lane = this.lanes[name === 'high' ? 0 : 1];
    let min = nextPos(lane!.live);
    if (lane!.backlog) {
      const b = nextPos(lane!.backlog);
      if (b.seq < min.seq) min = b;
    }
    for (const at of lane!.inflight.values()) if (at.seq < min.seq) min = at;
    return min;
  }

  /**
   * Stops sending on `client` for a backoff (growing with consecutive refusals), then rewinds every
   * lane to its acknowledged watermark and resumes, exactly as after a reconnect: order is kept,
   * messages after the refused one that were already accepted may be sent twice (their ids repeat).
   */
  private holdOff(client: MqttClient, why: string): void {
    this.refusals++;
    this.disconnected();
    const wait = backoffDelay(this.refusals - 1, this.deps.cfg.backoff);
    this.deps.onRefused?.(why, wait);
    const gen = this.gen;
    this.holdTimer = setTimeout(() => {
      this.holdTimer = undefined;
      if (gen === this.gen) this.connected(client);
    }, wait);
  }

  connected(client: MqttClient): void {
    clearTimeout(this.holdTimer);
    this.holdTimer = undefined;
    this.gen++;
    this.client = client;
    for (const lane of this.lanes) {
      lane.inflight.clear();
      lane.backlog = undefined;
      lane.snapshot = undefined;
      lane.live = cursor(lane.resume);
      if (lane.name !== 'normal') continue;
      const end = lane.store.endPos();
      if (end.seq - lane.resume.seq > 2 * this.deps.cfg.inflight) {
        lane.backlog = cursor(lane.resume, end.seq);
        lane.live = cursor(end);
        // Includes appends still waiting for their commit: conservative (may hold a live message a
        // little longer), never out of order.
        lane.snapshot = Float64Array.from(lane.store.lastSeqOfBucket);
        lane.credit = 0;
      }
    }
    this.pump();
  }

  /** The connection was lost (not a clean stop): counts toward finding a poison message. */
  lost(): void {
    // Only a message that was alone in flight is convicted: with a window of several, the server
    // may have choked on a later one before the PUBACK of the oldest went out. So the losses
    // before the last are counted with the full window, and the last one with a window of 1
    // (see `window`), which also keeps a good message from being dropped for a bad neighbour.
    const alone = this.inflight === 1;
    for (const lane of this.lanes) {
      let oldest = Infinity;
      for (const seq of lane.inflight.keys()) if (seq < oldest) oldest = seq;
      if (oldest === Infinity) continue;
      if (lane.suspect?.seq === oldest) lane.suspect.losses++;
      else lane.suspect = { seq: oldest, losses: 1 };
      if (lane.suspect.losses >= POISON_LOSSES && alone) {
        lane.poison = oldest;
        lane.suspect = undefined;
      }
    }
    this.disconnected();
  }

  /** The inflight window: 1 while a suspected poison message is being isolated. */
  private get window(): number {
    for (const lane of this.lanes) if (lane.suspect && lane.suspect.losses >= POISON_LOSSES - 1) return 1;
    return this.deps.cfg.inflight;
  }

  disconnected(): void {
    clearTimeout(this.holdTimer);
    this.holdTimer = undefined;
    for (const lane of this.lanes) {
      lane.resume = this.watermark(lane.name);
      lane.inflight.clear();
      lane.backlog = undefined;
      lane.snapshot = undefined;
      lane.live = cursor(lane.resume);
    }
    this.client = undefined;
    this.gen++;
  }

  /** Hands records to MQTT.js until the window is full, then starts reads for empty cursors. */
  pump(): void {
    const client = this.client;
    if (!client) return;
    // The publishes of one pump leave in one socket write (the link's write coalescer).
    const window = this.window;
    while (this.inflight < window) {
      const rec = this.take();
      if (!rec) break;
      this.send(client, this.takenFrom!, rec);
    }
    for (const lane of this.lanes) {
      this.refill(lane, lane.live);
      if (lane.backlog) this.refill(lane, lane.backlog);
    }
  }

  /** The next record to send, its lane left in `takenFrom` (no object per message). */
  private take(): ReadRecord | undefined {
    const [high, normal] = this.lanes;
    const h = head(high!.live);
    if (h) {
      high!.live.i++;
      this.takenFrom = high;
      return h;
    }
    // The priority lane has durable records not read yet (a read is under way, or starts at the end
    // of this pump): normal traffic waits for them, so a queued alarm is never overtaken by normal
    // messages that happened to be read first.
    if (high!.live.reading || high!.live.pos.seq < high!.store.endPos().seq) return undefined;
    const bl = normal!.backlog;
    if (bl && !head(bl) && !bl.reading && bl.pos.seq >= bl.limit) {
      normal!.backlog = undefined;
      normal!.snapshot = undefined;
    }
    const b = head(normal!.backlog);
    let l = head(normal!.live);
    if (l && normal!.backlog && normal!.snapshot) {
      const backlogNext = b ? b.seq : normal!.backlog.pos.seq;
      if (normal!.snapshot[topicBucket(l.topic, BUCKETS)]! >= backlogNext) l = undefined;
    }
    let useBacklog = false;
    if (b && l) {
      normal!.credit += this.deps.cfg.replay.backlog_share;
      if (normal!.credit >= 1) {
        normal!.credit -= 1;
        useBacklog = true;
      }
    } else if (b) useBacklog = true;
    else if (!l) return undefined;
    const c = useBacklog ? normal!.backlog! : normal!.live;
    c.i++;
    this.takenFrom = normal;
    return useBacklog ? b! : l!;
  }

  private refill(lane: Lane, c: Cursor): void {
    if (c.reading || head(c) || c.pos.seq >= c.limit || c.pos.seq >= lane.store.endPos().seq) return;
    c.reading = true;
    const gen = this.gen;
    lane.store.read(c.pos, READ_BYTES).then(
      ({ records, end }) => {
        c.reading = false;
        if (gen !== this.gen) return;
        const keep = c.limit === Infinity ? records : records.filter((r) => r.seq < c.limit);
        c.buf = keep;
        c.i = 0;
        c.pos = keep.length < records.length ? { ...records[keep.length]!.at } : end;
        this.pump();
      },
      () => {
        // A read error (disk) is retried on the next wake-up; the records stay in the log.
        c.reading = false;
      },
    );
  }

  private send(client: MqttClient, lane: Lane, rec: ReadRecord): void {
    if ((rec.mask & this.mask) === 0) return;
    const out = this.prepare(lane, rec);
    if (!out) return;
    lane.inflight.set(rec.seq, rec.at);
    const gen = this.gen;
    client.publish(out.topic, out.payload, out.opts, (err) => {
      if (gen === this.gen) this.settled(client, lane, rec, err);
    });
  }

  /** What goes on the wire for `rec`, or undefined when it is dropped here (counted, logged). */
  private prepare(lane: Lane, rec: ReadRecord): Outgoing | undefined {
    const rule = this.outgoing.admit(rec);
    if (!rule) return undefined;
    if (lane.poison === rec.seq) {
      lane.poison = undefined;
      this.deps.counters.failed.inc();
      this.deps.onDrop('failed', rec, `poison message: the connection was lost ${POISON_LOSSES} times in a row while it was the oldest unacknowledged message (the last time alone in flight); dropped so the rest can flow`, true);
      return undefined;
    }
    return this.outgoing.wire(rule, rec, lane.name === 'high' ? 'h' : 'n');
  }

  /** The PUBACK (or the error instead) of `rec`, on the connection it was sent on. */
  private settled(client: MqttClient, lane: Lane, rec: ReadRecord, err: Error | undefined): void {
    const { counters } = this.deps;
    const reasonCode = (err as { code?: unknown } | undefined)?.code;
    if (err && typeof reasonCode !== 'number') return; // connection trouble: resent after reconnect
    if (err && !PERMANENT_PUBACK_CODES.has(reasonCode as number)) {
      // A temporary refusal (quota, authorization, server trouble): keep the message and send it
      // again later, from the acknowledged watermark so per-topic order holds as after a reconnect.
      this.holdOff(client, `${rec.topic} (seq ${rec.seq}) refused with PUBACK 0x${(reasonCode as number).toString(16)} (${err.message})`);
      return;
    }
    lane.inflight.delete(rec.seq);
    if (lane.suspect?.seq === rec.seq) lane.suspect = undefined;
    if (err) {
      // A PUBACK with a permanent error reason code: the server will never take it.
      counters.failed.inc();
      this.deps.onDrop('failed', rec, `PUBACK 0x${(reasonCode as number).toString(16)} (${err.message})`);
    } else {
      this.refusals = 0;
      counters.forwarded.inc();
      counters.upstreamForwarded.inc();
    }
    this.pumpSoon();
  }

  /**
   * One pump for all the PUBACKs of a socket read, not one per PUBACK: the window refills with
   * one writev of many publishes instead of a syscall per message (at 200 in flight those single
   * writes took a tenth of the gateway's CPU).
   */
  private pumpSoon(): void {
    if (this.pumpQueued) return;
    this.pumpQueued = true;
    setImmediate(() => {
      this.pumpQueued = false;
      this.pump();
    });
  }
}
