import { moreSuffix, RateLimitedLog } from '../core/log-limit.ts';
import { PublishRejected, type IngressMessage } from '../core/message.ts';
import type { Logger } from '../log/logger.ts';
import type { LaneName } from './consumer.ts';
import { frameSize } from './record.ts';
import type { UpstreamRules } from './rules.ts';
import type { LaneStore } from './store.ts';

export interface IngestDeps {
  /** Each upstream's forward rules and its bit in the record mask. */
  upstreams: () => readonly { rules: UpstreamRules; bit: number }[];
  lanes: () => Record<LaneName, LaneStore>;
  /** Makes room for `bytes` (drop policy) or throws PublishRejected. */
  makeRoom: (bytes: number, topic: string) => void;
  log: Logger;
}

/**
 * The bridge's ingress hook: every message a forward rule takes is appended to the log, and the
 * hook resolves only once it is durable, so the source's acknowledgement means "on disk". Until
 * the log is open, publishes wait for it (the broker may already be listening); once the gateway
 * is stopping they are refused rather than let through unlogged.
 */
export class Ingest {
  private ready: Promise<void>;
  private markReady?: (err?: Error) => void;
  private stopping = false;
  private readonly qos0Log: RateLimitedLog;

  constructor(private readonly deps: IngestDeps) {
    this.ready = new Promise<void>((resolve, reject) => {
      this.markReady = (err) => (err ? reject(err) : resolve());
    });
    this.ready.catch(() => {});
    this.qos0Log = new RateLimitedLog({
      intervalMs: 60_000,
      write: (f, msg) => deps.log.warn(f, msg),
      flush: (n) => ({ fields: { not_queued: n }, msg: `bridge: ${n} more QoS 0 messages not queued in the last 60 s` }),
    });
  }

  /** Whether the log is open (or failed to open): publishes no longer wait. */
  get opened(): boolean {
    return !this.markReady;
  }

  /** The log is open (or, with `err`, could not be: waiting publishes are refused with it). */
  open(err?: Error): void {
    this.markReady?.(err);
    this.markReady = undefined;
  }

  /** From now on every publish is refused. */
  stop(): void {
    this.stopping = true;
  }

  /** Writes out the QoS 0 refusals not logged yet. */
  flush(): void {
    this.qos0Log.flushAll();
  }

  /** The hook. Resolves once the message is durable; throws PublishRejected when refused. */
  accept(msg: IngressMessage): Promise<void> | void {
    if (msg.origin === 'bridge') return; // a downlink: never sent back up
    if (this.markReady) return this.ready.then(() => this.accept(msg));
    if (this.stopping) throw new PublishRejected('unavailable', 'the gateway is stopping: publish again once it is back');
    let high = 0;
    let normal = 0;
    for (const u of this.deps.upstreams()) {
      const rule = u.rules.match(msg.topic);
      if (rule?.lane === 'high') high |= 2 ** u.bit;
      else if (rule) normal |= 2 ** u.bit;
    }
    if (!high && !normal) return;
    this.deps.makeRoom(frameSize(msg.topic, msg.payload) * (high && normal ? 2 : 1), msg.topic);
    const lanes = this.deps.lanes();
    const write = (lane: LaneName, mask: number) => lanes[lane].append([{ topic: msg.topic, payload: msg.payload, qos: msg.qos, retain: msg.retain, mask }]);
    const all = !high ? write('normal', normal) : !normal ? write('high', high) : Promise.all([write('high', high), write('normal', normal)]).then(() => {});
    if (msg.qos > 0) return all;
    // QoS 0 has no ack to hold back: queue it and let the publisher go on.
    all.catch((err: Error) => this.qos0Log.event(err.message, (more) => ({ fields: { topic: msg.topic, err: err.message }, msg: `bridge: QoS 0 message not queued (${err.message})${moreSuffix(more)}` })));
  }
}
