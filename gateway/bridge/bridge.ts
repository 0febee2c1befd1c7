import { join, resolve } from 'node:path';
import type { Broker } from '../broker/broker.ts';
import { moreSuffix, RateLimitedLog } from '../core/log-limit.ts';
import type { Ingress } from '../core/ingress.ts';
import { PublishRejected } from '../core/message.ts';
import type { Logger } from '../log/logger.ts';
import type { Metrics } from '../metrics/metrics.ts';
import type { BridgeConfig, UpstreamConfig } from './config.ts';
import { Consumer, type LaneName } from './consumer.ts';
import { Downlink } from './downlink.ts';
import { makeRoom, type RoomDeps } from './drop-policy.ts';
import { DROP_LOG_MS, DropLog } from './drops.ts';
import { Ingest } from './ingest.ts';
import { MemoryStore } from './memory-store.ts';
import { UpstreamRules } from './rules.ts';
import { redactUrl } from './redact.ts';
import { SegmentLog } from './segment-log.ts';
import { loadCheckpoint, loadMeta, saveCheckpoint, type Checkpoint, type Meta, type SavedState } from './state.ts';
import { describeLoss } from './damage-report.ts';
import type { Damage, LaneStore, OpenReport, Pos } from './store.ts';
import type { UpstreamLink } from './upstream.ts';
let Link: typeof UpstreamLink;

export interface BridgeDeps {
  gatewayId: string;
  dataDir: string;
  broker: Broker;
  ingress: Ingress;
  metrics: Metrics;
  log: Logger;
}

const LANES: LaneName[] = ['high', 'normal'];

interface Upstream {
  name: string;
  rules: UpstreamRules;
  bit: number;
  link: UpstreamLink;
  consumer: Consumer;
}

/**
 * The store-and-forward bridge: an ingress hook (ingest.ts) that appends every message a forward
 * rule takes to the log and returns only once it is durable (so the source's ack means "on disk"),
 * consumers that replay the log to each upstream and release it on PUBACK, downlinks from the
 * cloud into the local broker (downlink.ts), checkpoints, drops (drop-policy.ts) and metrics.
 */
export class Bridge {
  private readonly dir: string;
  private lanes!: Record<LaneName, LaneStore>;
  private upstreams: Upstream[] = [];
  private removeHook?: () => void;
  private readonly ingest?: Ingest;
  private timer?: NodeJS.Timeout;
  /** open() completed: there are positions to save and lanes to close on stop. */
  private started = false;
  private checkpointing?: Promise<void>;
  private lastSaved = '';
  private oldestTs = 0;
  private readonly drops: DropLog;
  /** What the drop policy works on (set once the lanes are open). */
  private room?: RoomDeps;
  private readonly c;
  private checkpointFailures = 0;
  private readonly checkpointLog: RateLimitedLog;
  openReports: Record<string, OpenReport> = {};

  constructor(private readonly cfg: BridgeConfig, private readonly deps: BridgeDeps) {
    this.dir = resolve(cfg.queue.dir ?? join(deps.dataDir, 'bridge'));
    if (cfg.upstreams.length > 0) {
      // The hook goes in now, before anything can publish: the broker is already listening when
      // the gateway constructs the bridge, and clients that reconnect right after a restart must
      // not be acknowledged while the log is still being opened. They wait for it instead.
      const ingest = new Ingest({ upstreams: () => this.upstreams, lanes: () => this.lanes, makeRoom: (bytes, topic) => makeRoom(this.room!, bytes, topic), log: deps.log });
      this.ingest = ingest;
      this.removeHook = deps.ingress.addHook('bridge', (msg) => ingest.accept(msg));
    }
    this.checkpointLog = new RateLimitedLog({ intervalMs: 60_000, write: (f, msg) => deps.log.warn(f, msg) });
    const m = deps.metrics;
    this.c = {
      forwarded: m.counter('bridge/forwarded'),
      queueFull: m.counter('bridge/dropped/{reason}', { reason: 'queue_full' }),
      expired: m.counter('bridge/dropped/{reason}', { reason: 'expired' }),
      failed: m.counter('bridge/dropped/{reason}', { reason: 'failed' }),
      noRule: m.counter('bridge/dropped/{reason}', { reason: 'no_rule' }),
      tooLarge: m.counter('bridge/dropped/{reason}', { reason: 'too_large' }),
      reconnects: m.counter('bridge/reconnects'),
      refused: m.counter('bridge/refused'),
      downlink: m.counter('bridge/downlink/received'),
      damaged: m.counter('bridge/log/damaged_bytes'),
    };
    this.drops = new DropLog(deps.log, this.c.queueFull);
  }

  get enabled(): boolean {
    return this.cfg.upstreams.length > 0;
  }

  async start(): Promise<void> {
    if (!this.enabled) return;
    try {
      await this.open();
    } catch (err) {
      this.ingest?.open(new PublishRejected('unavailable', `the bridge log could not be opened: ${(err as Error).message}`));
      throw err;
    }
  }

  private async open(): Promise<void> {
    ({ UpstreamLink: Link } = await import('./upstream.ts'));
    const { cfg, deps } = this;
    const { meta, notes } = loadMeta(this.dir, cfg.upstreams.map((u) => u.name));
    for (const n of notes) deps.log.warn(n);
    const state = await this.openLanes();
    for (const u of cfg.upstreams) this.upstreams.push(this.addUpstream(u, meta, state.positions));
    this.metrics();
    this.room = { queue: cfg.queue, lanes: this.lanes, floor: (name) => this.floor(name), drops: this.drops };
    this.ingest?.open();
    this.timer = setInterval(() => void this.checkpoint(), cfg.queue.checkpoint_interval);
    this.timer.unref();
    const depth = this.depth();
    deps.log.info({ dir: this.dir, storage: cfg.queue.storage, queued: depth.messages, queued_bytes: depth.bytes, upstreams: cfg.upstreams.map((u) => `${u.name}:${u.servers.map(redactUrl).join(',')}`) }, 'bridge started');
    this.started = true;
    for (const u of this.upstreams) u.link.start();
  }

  /** Opens both lanes, reports damage against the checkpoint, and keeps the seq counters from going back. */
  private async openLanes(): Promise<SavedState> {
    const { cfg, deps } = this;
    const q = cfg.queue;
    // Drops go a segment at a time: at least 16 segments per bound keeps each drop small.
    const segmentBytes = Math.max(16 * 1024, Math.min(q.segment_bytes, Math.floor(q.max_bytes / 16)));
    const make = (name: LaneName): LaneStore =>
      q.storage === 'memory' ? new MemoryStore(name, segmentBytes) : new SegmentLog({ dir: join(this.dir, name), name, segmentBytes, syncInterval: q.sync_interval, onSync: deps.metrics.histogram('bridge/log/fsync_seconds/{lane}', { lane: name }).observe });
    this.lanes = { high: make('high'), normal: make('normal') };
    const state = loadCheckpoint(this.dir);
    if (state.problem) deps.log.warn({ dir: this.dir }, state.problem);
    const saved = state.positions;
    for (const name of LANES) {
      const lane = this.lanes[name];
      lane.on('damaged', (d) => this.reportDamage(name, d));
      const report = await lane.open();
      this.openReports[name] = report;
      for (const d of report.damage) this.reportDamage(name, d, state);
      // The counter never goes backwards, whatever the files lost: a seq some upstream may have
      // received is never given to a new message (cloud-side de-duplication would drop it).
      lane.advanceTo(Math.max(state.next[name] ?? 0, ...cfg.upstreams.map((u) => saved[`${u.name}/${name}`]?.seq ?? 0)));
    }
    return state;
  }

  /** One upstream: its link, the consumer feeding it from the log, its downlink and gauges. */
  private addUpstream(u: UpstreamConfig, meta: Meta, saved: Checkpoint): Upstream {
    const { deps } = this;
    const rules = new UpstreamRules(u, deps.gatewayId);
    const log = deps.log.child({ upstream: u.name });
    const refusedLog = new RateLimitedLog({ intervalMs: DROP_LOG_MS, write: (f, msg) => log.warn(f, msg) });
    const link = new Link(u, { gatewayId: deps.gatewayId, prefix: rules.prefix, log, reconnects: this.c.reconnects });
    const consumer = new Consumer({
      cfg: u,
      bit: meta.bits[u.name]!,
      epoch: meta.epoch,
      rules,
      lanes: this.lanes,
      start: { high: saved[`${u.name}/high`], normal: saved[`${u.name}/normal`] },
      ttl: this.cfg.queue.ttl,
      counters: { forwarded: this.c.forwarded, upstreamForwarded: deps.metrics.counter('bridge/upstreams/{upstream}/forwarded', { upstream: u.name }), expired: this.c.expired, failed: this.c.failed, noRule: this.c.noRule, tooLarge: this.c.tooLarge },
      onDrop: (reason, rec, detail, always) => this.drops.dropped(reason, 1, `upstream ${u.name}: ${rec.topic} (seq ${rec.seq})${detail ? `: ${detail}` : ''}`, always),
      onRefused: (why, wait) => {
        this.c.refused.inc();
        refusedLog.event('refused', (more) => ({ fields: { wait_ms: wait }, msg: `upstream ${u.name}: ${why}: temporary, resending from the oldest unacknowledged message in ${wait} ms${moreSuffix(more)}` }));
      },
    });
    link.on('up', (client) => consumer.connected(client));
    link.on('down', () => consumer.lost());
    const downlink = new Downlink(link, { name: u.name, rules, broker: deps.broker, log, received: this.c.downlink });
    deps.metrics.gaugeFn('bridge/upstreams/{upstream}/downlink_subscribed', () => (downlink.subscribed ? 1 : 0), { upstream: u.name });
    deps.metrics.gaugeFn('bridge/upstreams/{upstream}/connected', () => (link.connected ? 1 : 0), { upstream: u.name });
    deps.metrics.gaugeFn('bridge/upstreams/{upstream}/inflight', () => consumer.inflight, { upstream: u.name });
    return { name: u.name, rules, bit: meta.bits[u.name]!, link, consumer };
  }

  private metrics(): void {
    const m = this.deps.metrics;
    m.gaugeFn('bridge/queue/messages', () => this.depth().messages);
    m.gaugeFn('bridge/queue/bytes', () => this.depth().bytes);
    // Prometheus base unit: seconds (the API's queue.oldest_age_ms is derived from it).
    m.gaugeFn('bridge/queue/oldest_age_seconds', () => (this.oldestTs ? Math.max(0, Date.now() - this.oldestTs) / 1000 : 0));
    m.counterFn('bridge/log/bytes_written', () => this.lanes.high.bytesWritten + this.lanes.normal.bytesWritten);
    m.counterFn('bridge/log/syncs', () => this.lanes.high.syncs + this.lanes.normal.syncs);
  }

  /** The oldest position some upstream still needs, per lane. */
  private floor(name: LaneName): Pos {
    const lane = this.lanes[name];
    let min: Pos = lane.endPos();
    for (const u of this.upstreams) {
      const w = u.consumer.watermark(name);
      if (w.seq < min.seq) min = w;
    }
    const head = lane.headPos();
    return min.seq < head.seq ? head : min;
  }

  depth(): { messages: number; bytes: number } {
    let messages = 0;
    let bytes = 0;
    for (const name of LANES) {
      messages += Math.max(0, this.lanes[name].nextSeq - this.floor(name).seq);
      bytes += this.lanes[name].bytes;
    }
    return { messages, bytes };
  }

  private reportDamage(lane: LaneName, d: Damage, state: SavedState = { positions: this.positions(), next: this.nextSeqs() }): void {
    this.c.damaged.inc(d.bytes);
    const r = describeLoss(d, lane, this.cfg.upstreams.map((u) => u.name), state);
    this.deps.log.warn({ lane, file: d.file, offset: d.offset, bytes: d.bytes, action: d.action, lost_first_seq: r.first, lost_end_seq: r.end, lost_acknowledged: r.acknowledged, lost_unacknowledged: r.unacknowledged, lost_for: r.lostFor, lost_at_most: r.atMost }, r.line);
  }

  private positions(): Checkpoint {
    const positions: Checkpoint = {};
    for (const u of this.upstreams) for (const l of LANES) positions[`${u.consumer.name}/${l}`] = u.consumer.watermark(l);
    return positions;
  }

  private nextSeqs(): Record<string, number> {
    return Object.fromEntries(LANES.map((l) => [l, this.lanes[l].nextSeq]));
  }

  /** Saves each consumer's acknowledged position, deletes fully acknowledged segments. */
  checkpoint(): Promise<void> {
    if (this.checkpointing) return this.checkpointing;
    this.checkpointing = this.doCheckpoint().finally(() => {
      this.checkpointing = undefined;
    });
    return this.checkpointing;
  }

  private async doCheckpoint(): Promise<void> {
    const positions = this.positions();
    const next = this.nextSeqs();
    const text = JSON.stringify([positions, next]);
    if (text !== this.lastSaved && this.cfg.queue.storage === 'disk') {
      try {
        await saveCheckpoint(this.dir, positions, next);
        this.lastSaved = text;
        if (this.checkpointFailures) this.deps.log.info({ dir: this.dir, failed_attempts: this.checkpointFailures }, `bridge checkpoint saved again after ${this.checkpointFailures} failed attempts`);
        this.checkpointFailures = 0;
      } catch (err) {
        // Every interval while the disk is full: one line a minute, with the count. Releasing
        // acknowledged segments below goes on regardless; it is what gives the space back.
        this.checkpointFailures++;
        this.checkpointLog.event('checkpoint', (more) => ({ fields: { dir: this.dir, err: (err as Error).message, failed_attempts: this.checkpointFailures }, msg: `bridge checkpoint failed (${(err as Error).message}); retrying every ${this.cfg.queue.checkpoint_interval} ms (after a crash more messages would be resent)${moreSuffix(more)}` }));
      }
    }
    try {
      let oldest = 0;
      for (const l of LANES) {
        const floor = this.floor(l);
        await this.lanes[l].release(floor.seq);
        if (floor.seq < this.lanes[l].endPos().seq) {
          const { records } = await this.lanes[l].read(floor, 1);
          if (records[0] && (!oldest || records[0].ts < oldest)) oldest = records[0].ts;
        }
      }
      this.oldestTs = oldest;
    } catch (err) {
      this.checkpointLog.event('release', (more) => ({ fields: { dir: this.dir, err: (err as Error).message }, msg: `bridge log: releasing acknowledged segments failed (${(err as Error).message}); retrying${moreSuffix(more)}` }));
    }
  }

  /**
   * SIGHUP: takes the forward rules of `next` for every upstream whose other settings are
   * unchanged. Returns what it could not apply (other upstream settings, added or removed
   * upstreams, the queue), which needs a restart.
   */
  reloadForwardRules(next: BridgeConfig): string[] {
    const restart: string[] = [];
    const without = (u: unknown) => JSON.stringify({ ...(u as Record<string, unknown>), forward: undefined });
    const byName = new Map(this.cfg.upstreams.map((u) => [u.name, u]));
    if (JSON.stringify(next.queue) !== JSON.stringify(this.cfg.queue)) restart.push('bridge.queue');
    if (next.upstreams.length !== this.cfg.upstreams.length || next.upstreams.some((u) => !byName.has(u.name))) restart.push('bridge.upstreams (added or removed)');
    for (const u of next.upstreams) {
      const old = byName.get(u.name);
      const up = this.upstreams.find((x) => x.name === u.name);
      if (!old || !up) continue;
      if (without(old) !== without(u)) restart.push(`bridge.upstreams.${u.name} (settings other than forward)`);
      else if (JSON.stringify(old.forward) !== JSON.stringify(u.forward)) up.rules.replaceForward(u);
    }
    return restart;
  }

  health(): { name: string; connected: boolean; server?: string; error?: string }[] {
    return this.upstreams.map((u) => ({ name: u.consumer.name, connected: u.link.connected, server: u.link.connectedTo, error: u.link.lastError?.line }));
  }

  /** Link errors by upstream name, for tests and doctor-style output. */
  lastErrors(): Record<string, string | undefined> {
    return Object.fromEntries(this.upstreams.map((u) => [u.consumer.name, u.link.lastError?.line]));
  }

  async stop(): Promise<void> {
    if (!this.started) {
      // Never started, or failed while opening the log: nothing to flush, no positions to save.
      this.removeHook?.();
      return;
    }
    // Refuse (rather than let through unlogged) whatever local clients publish while we stop.
    this.ingest?.stop();
    clearInterval(this.timer);
    await Promise.all(this.upstreams.map((u) => u.link.stop()));
    for (const u of this.upstreams) u.consumer.disconnected();
    await this.checkpoint();
    await Promise.all(LANES.map((l) => this.lanes[l].close()));
    this.drops.flush();
    this.ingest?.flush();
    this.removeHook?.();
    this.removeHook = undefined;
  }
}
