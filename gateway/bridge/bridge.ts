import { join, resolve } from 'node:path';
import type { Broker } from '../broker/broker.ts';
import { moreSuffix, RateLimitedLog } from '../core/log-limit.ts';
import type { Ingress } from '../core/ingress.ts';
import { PublishRejected, type IngressMessage } from '../core/message.ts';
import type { Logger } from '../log/logger.ts';
import type { Metrics } from '../metrics/metrics.ts';
import type { BridgeConfig } from './config.ts';
import { Consumer, type LaneName } from './consumer.ts';
import { MemoryStore } from './memory-store.ts';
import { frameSize } from './record.ts';
import { UpstreamRules } from './rules.ts';
import { redactUrl } from './redact.ts';
import { SegmentLog } from './segment-log.ts';
import { loadCheckpoint, loadMeta, saveCheckpoint, type Checkpoint, type SavedState } from './state.ts';
import { describeLoss } from './damage-report.ts';
import type { Damage, LaneStore, OpenReport, Pos } from './store.ts';
import { UpstreamLink } from './upstream.ts';

export interface BridgeDeps {
  gatewayId: string;
  dataDir: string;
  broker: Broker;
  ingress: Ingress;
  metrics: Metrics;
  log: Logger;
}

const LANES: LaneName[] = ['high', 'normal'];
/** Drop and expiry warnings are logged at most this often, with the count since the last one. */
const DROP_LOG_MS = 10_000;

interface Upstream {
  name: string;
  rules: UpstreamRules;
  bit: number;
  link: UpstreamLink;
  consumer: Consumer;
  unsubscribe?: () => void;
}

/**
 * The store-and-forward bridge: an ingress hook that appends every message a forward rule takes to
 * the log and returns only once it is durable (so the source's ack means "on disk"), consumers that
 * replay the log to each upstream and release it on PUBACK, downlinks from the cloud into the
 * local broker, checkpoints, drops and metrics.
 */
export class Bridge {
  private readonly dir: string;
  private lanes!: Record<LaneName, LaneStore>;
  private upstreams: Upstream[] = [];
  private removeHook?: () => void;
  /** Settles when start() has opened the log: publishes that arrive before wait for it. */
  private ready?: Promise<void>;
  private markReady?: (err?: Error) => void;
  private stopping = false;
  private timer?: NodeJS.Timeout;
  private checkpointing?: Promise<void>;
  private lastSaved = '';
  private oldestTs = 0;
  private readonly drops = { queue_full: 0, expired: 0, failed: 0, no_rule: 0, too_large: 0 };
  /** When the last drop line was written, and the drops not written out since. */
  private dropLog: { at: number; suppressed: number; timer?: NodeJS.Timeout } = { at: 0, suppressed: 0 };
  private readonly c;
  private checkpointFailures = 0;
  private readonly checkpointLog: RateLimitedLog;
  private readonly qos0Log: RateLimitedLog;
  openReports: Record<string, OpenReport> = {};

  constructor(private readonly cfg: BridgeConfig, private readonly deps: BridgeDeps) {
    this.dir = resolve(cfg.queue.dir ?? join(deps.dataDir, 'bridge'));
    if (cfg.upstreams.length > 0) {
      // The hook goes in now, before anything can publish: the broker is already listening when
      // the gateway constructs the bridge, and clients that reconnect right after a restart must
      // not be acknowledged while the log is still being opened. They wait for it instead.
      this.ready = new Promise<void>((resolve, reject) => {
        this.markReady = (err) => (err ? reject(err) : resolve());
      });
      this.ready.catch(() => {});
      this.removeHook = deps.ingress.addHook('bridge', (msg) => this.accept(msg));
    }
    const write = (f: Record<string, unknown>, msg: string) => deps.log.warn(f, msg);
    this.checkpointLog = new RateLimitedLog({ intervalMs: 60_000, write });
    this.qos0Log = new RateLimitedLog({ intervalMs: 60_000, write, flush: (n) => ({ fields: { not_queued: n }, msg: `bridge: ${n} more QoS 0 messages not queued in the last 60 s` }) });
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
  }

  get enabled(): boolean {
    return this.cfg.upstreams.length > 0;
  }

  async start(): Promise<void> {
    if (!this.enabled) return;
    try {
      await this.open();
    } catch (err) {
      const e = new PublishRejected('unavailable', `the bridge log could not be opened: ${(err as Error).message}`);
      this.markReady?.(e);
      throw err;
    }
  }

  private async open(): Promise<void> {
    const { cfg, deps } = this;
    const q = cfg.queue;
    const { meta, notes } = loadMeta(this.dir, cfg.upstreams.map((u) => u.name));
    for (const n of notes) deps.log.warn(n);
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
    for (const u of cfg.upstreams) {
      const rules = new UpstreamRules(u, deps.gatewayId);
      const log = deps.log.child({ upstream: u.name });
      const refusedLog = { at: 0, since: 0 };
      const link = new UpstreamLink(u, { gatewayId: deps.gatewayId, prefix: rules.prefix, log, reconnects: this.c.reconnects });
      const consumer = new Consumer({
        cfg: u,
        bit: meta.bits[u.name]!,
        epoch: meta.epoch,
        rules,
        lanes: this.lanes,
        start: { high: saved[`${u.name}/high`], normal: saved[`${u.name}/normal`] },
        ttl: q.ttl,
        counters: { forwarded: this.c.forwarded, upstreamForwarded: deps.metrics.counter('bridge/upstreams/{upstream}/forwarded', { upstream: u.name }), expired: this.c.expired, failed: this.c.failed, noRule: this.c.noRule, tooLarge: this.c.tooLarge },
        onDrop: (reason, rec, detail, always) => this.dropped(reason, 1, `upstream ${u.name}: ${rec.topic} (seq ${rec.seq})${detail ? `: ${detail}` : ''}`, always),
        onRefused: (why, wait) => {
          this.c.refused.inc();
          const now = Date.now();
          if (now - refusedLog.at < DROP_LOG_MS) {
            refusedLog.since++;
            return;
          }
          const more = refusedLog.since ? ` (${refusedLog.since} more since the last line)` : '';
          log.warn({ wait_ms: wait }, `upstream ${u.name}: ${why}: temporary, resending from the oldest unacknowledged message in ${wait} ms${more}`);
          refusedLog.at = now;
          refusedLog.since = 0;
        },
      });
      const up: Upstream = { name: u.name, rules, bit: meta.bits[u.name]!, link, consumer };
      let subscribed = false;
      link.on('up', (client) => {
        consumer.connected(client);
        if (rules.downlink.length) {
          client.subscribe(Object.fromEntries(rules.downlink.map((r) => [r.remote, { qos: r.qos }])), (err, granted) => {
            if (err) log.warn({ err: err.message }, `upstream ${u.name}: downlink subscribe failed: ${err.message}`);
            else if (granted?.some((g) => g.qos >= 0x80)) log.warn({ granted }, `upstream ${u.name}: downlink subscription refused by the server`);
            else subscribed = true;
          });
        }
      });
      link.on('down', () => {
        subscribed = false;
        consumer.lost();
      });
      deps.metrics.gaugeFn('bridge/upstreams/{upstream}/downlink_subscribed', () => (subscribed ? 1 : 0), { upstream: u.name });
      link.on('message', (topic, payload, packet) => this.downlink(up, u.name, topic, payload, packet.qos, packet.retain));
      deps.metrics.gaugeFn('bridge/upstreams/{upstream}/connected', () => (link.connected ? 1 : 0), { upstream: u.name });
      deps.metrics.gaugeFn('bridge/upstreams/{upstream}/inflight', () => consumer.inflight, { upstream: u.name });
      this.upstreams.push(up);
    }
    this.metrics();
    this.markReady?.();
    this.markReady = undefined;
    this.timer = setInterval(() => void this.checkpoint(), q.checkpoint_interval);
    this.timer.unref();
    const depth = this.depth();
    deps.log.info({ dir: this.dir, storage: q.storage, queued: depth.messages, queued_bytes: depth.bytes, upstreams: cfg.upstreams.map((u) => `${u.name}:${u.servers.map(redactUrl).join(',')}`) }, 'bridge started');
    for (const u of this.upstreams) u.link.start();
  }

  private metrics(): void {
    const m = this.deps.metrics;
    m.gaugeFn('bridge/queue/messages', () => this.depth().messages);
    m.gaugeFn('bridge/queue/bytes', () => this.depth().bytes);
    m.gaugeFn('bridge/queue/oldest_age_ms', () => (this.oldestTs ? Math.max(0, Date.now() - this.oldestTs) : 0));
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

  /** The ingress hook. Resolves once the message is durable; throws PublishRejected when refused. */
  private accept(msg: IngressMessage): Promise<void> | void {
    if (msg.origin === 'bridge') return; // a downlink: never sent back up
    if (this.markReady) return this.ready!.then(() => this.accept(msg));
    if (this.stopping) throw new PublishRejected('unavailable', 'the gateway is stopping: publish again once it is back');
    let high = 0;
    let normal = 0;
    for (const u of this.upstreams) {
      const rule = u.rules.match(msg.topic);
      if (rule?.lane === 'high') high |= 2 ** u.bit;
      else if (rule) normal |= 2 ** u.bit;
    }
    if (!high && !normal) return;
    this.makeRoom(frameSize(msg.topic, msg.payload) * (high && normal ? 2 : 1), msg.topic);
    const write = (lane: LaneName, mask: number) => this.lanes[lane].append([{ topic: msg.topic, payload: msg.payload, qos: msg.qos, retain: msg.retain, mask }]);
    const all = !high ? write('normal', normal) : !normal ? write('high', high) : Promise.all([write('high', high), write('normal', normal)]).then(() => {});
    if (msg.qos > 0) return all;
    // QoS 0 has no ack to hold back: queue it and let the publisher go on.
    all.catch((err: Error) => this.qos0Log.event(err.message, (more) => ({ fields: { topic: msg.topic, err: err.message }, msg: `bridge: QoS 0 message not queued (${err.message})${moreSuffix(more)}` })));
  }

  private makeRoom(bytes: number, topic: string): void {
    const { max_bytes, policy } = this.cfg.queue;
    if (bytes > max_bytes / 2) throw new PublishRejected('too_large', `message on ${topic} (${bytes} bytes) is larger than half of bridge.queue.max_bytes (${max_bytes})`);
    const total = () => this.lanes.high.bytes + this.lanes.normal.bytes;
    while (total() + bytes > max_bytes) {
      // Segments every upstream has acknowledged are otherwise freed only at the next checkpoint:
      // free them now, before anything queued is dropped or a publish refused.
      if (LANES.reduce((freed, name) => freed + this.lanes[name].releaseNow(this.floor(name).seq), 0) > 0) continue;
      if (policy === 'reject_new') {
        this.dropped('queue_full', 1, `new message on ${topic} refused (policy reject_new)`);
        throw new PublishRejected('queue_full', `bridge queue full (${total()} of ${max_bytes} bytes, policy reject_new): message on ${topic} refused`);
      }
      // Normal traffic makes room before the priority lane gives anything up.
      let freed = false;
      for (const name of ['normal', 'high'] as const) {
        const floor = this.floor(name).seq;
        const d = this.lanes[name].dropOldest();
        if (!d) continue;
        freed = true;
        const lost = Math.max(0, d.endSeq - Math.max(d.firstSeq, floor));
        if (lost) this.dropped('queue_full', lost, `oldest ${lost} queued messages (${d.bytes} bytes) dropped to make room (policy drop_oldest)`);
        break;
      }
      if (!freed) throw new PublishRejected('queue_full', `bridge queue full (${total()} of ${max_bytes} bytes) and nothing left to drop`);
    }
  }

  private dropped(reason: keyof Bridge['drops'], n: number, what: string, always = false): void {
    this.drops[reason] += n;
    if (reason === 'queue_full') this.c.queueFull.inc(n);
    const now = Date.now();
    if (now - this.dropLog.at < DROP_LOG_MS && !always) {
      // Rate-limited: counted now, written out by the next line or, if none comes, by a timer.
      this.dropLog.suppressed += n;
      if (!this.dropLog.timer) {
        this.dropLog.timer = setTimeout(() => this.flushDropLog(), this.dropLog.at + DROP_LOG_MS - now);
        this.dropLog.timer.unref();
      }
      return;
    }
    const more = this.dropLog.suppressed;
    clearTimeout(this.dropLog.timer);
    this.deps.log.warn({ reason, dropped: n, more_since_last_line: more, totals: { ...this.drops } }, `bridge dropped messages: ${what}${more ? ` (and ${more} more since the last line)` : ''}`);
    this.dropLog = { at: now, suppressed: 0 };
  }

  /** Writes out the drops a rate-limited line left unsaid. */
  private flushDropLog(): void {
    const more = this.dropLog.suppressed;
    clearTimeout(this.dropLog.timer);
    this.dropLog.timer = undefined;
    if (!more) return;
    const totals = Object.entries(this.drops).filter(([, v]) => v > 0).map(([k, v]) => `${k} ${v}`).join(', ');
    this.deps.log.warn({ more_since_last_line: more, totals: { ...this.drops } }, `bridge dropped ${more} more messages since the last line (totals: ${totals})`);
    this.dropLog = { at: Date.now(), suppressed: 0 };
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

  private downlink(u: Upstream, name: string, topic: string, payload: Buffer, qos: number, retain: boolean): void {
    const target = u.rules.localTopic(topic);
    if (!target) return;
    if ('error' in target) {
      this.deps.log.warn(`bridge downlink dropped: ${target.error}`);
      return;
    }
    this.c.downlink.inc();
    const msg: IngressMessage = { topic: target.topic, payload, qos: (Math.min(qos, target.rule.qos) > 0 ? 1 : 0) as 0 | 1, retain, origin: 'bridge', clientid: `bridge:${name}` };
    this.deps.broker.publish(msg).catch((err: Error) => this.deps.log.warn({ topic: target.topic, err: err.message }, 'bridge downlink not delivered locally'));
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
    if (!this.enabled || this.markReady || !this.upstreams.length) {
      // Never started, or failed while opening the log: nothing to flush, no positions to save.
      this.removeHook?.();
      return;
    }
    // Refuse (rather than let through unlogged) whatever local clients publish while we stop.
    this.stopping = true;
    clearInterval(this.timer);
    await Promise.all(this.upstreams.map((u) => u.link.stop()));
    for (const u of this.upstreams) u.consumer.disconnected();
    await this.checkpoint();
    await Promise.all(LANES.map((l) => this.lanes[l].close()));
    this.flushDropLog();
    this.qos0Log.flushAll();
    this.removeHook?.();
    this.removeHook = undefined;
  }
}
