import type { Logger } from '../log/logger.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { RateLimitedLog } from '../core/log-limit.ts';
import { BoundedPersistence, PACKET_OVERHEAD, type SessionQueueOptions } from './session-queue.ts';

// Retained messages are kept in the heap (and with broker.persistence disk in every snapshot),
// so any client that may publish could fill both with ever-new retained topics. The bound is in
// count (`broker.max_retained_messages`, EMQX's `retainer.max_retained_messages`) and in bytes
// (`broker.max_retained_bytes`, each message counted as its topic and payload plus the packet
// around them, as the session queues count). When full, a message for a *new* retained topic is
// not retained (it is still delivered to the subscribers it has), counted in
// `messages/retained/refused`, with one log line a minute; replacing or clearing a retained topic
// always works, so a device's state topic never freezes. The gateway's own `$SYS/` topics are
// not counted and never refused.

export interface RetainedBoundOptions {
  maxMessages: number;
  maxBytes: number;
  log: Pick<Logger, 'warn'>;
  metrics?: Metrics;
}

interface RetainedLike {
  topic?: string;
  payload?: Buffer | string;
}

function bytesOf(p: RetainedLike): number {
  const payload = p.payload === undefined ? 0 : typeof p.payload === 'string' ? Buffer.byteLength(p.payload) : p.payload.length;
  return PACKET_OVERHEAD + (p.topic?.length ?? 0) + payload;
}

export class RetainedBound {
  private readonly sizes = new Map<string, number>();
  private bytes = 0;
  private readonly refused?: { inc(n?: number): void };
  private readonly lines: RateLimitedLog;

  constructor(private readonly opts: RetainedBoundOptions) {
    this.refused = opts.metrics?.counter('messages/retained/refused');
    opts.metrics?.gaugeFn('messages/retained/count', () => this.sizes.size);
    opts.metrics?.gaugeFn('messages/retained/bytes', () => this.bytes);
    this.lines = new RateLimitedLog({
      intervalMs: 60_000,
      write: (f, m) => opts.log.warn(f, m),
      flush: (n) => ({ fields: { more: n }, msg: `... and ${n} more messages not retained (retained store full) in the last 60 s` }),
    });
  }

  get count(): number {
    return this.sizes.size;
  }

  /**
   * Whether `p` (a message with the retain flag) may be stored; records it when so. A clear (empty
   * payload) or a replacement always may. `force`: replaying the store at start (what was kept stays).
   */
  admit(p: RetainedLike, force = false): boolean {
    const topic = p.topic;
    if (typeof topic !== 'string' || topic.startsWith('$SYS/')) return true;
    const empty = p.payload === undefined || p.payload.length === 0;
    const old = this.sizes.get(topic);
    if (empty) {
      if (old !== undefined) {
        this.sizes.delete(topic);
        this.bytes -= old;
      }
      return true;
    }
    const size = bytesOf(p);
    if (old === undefined && !force) {
      const full = this.sizes.size + 1 > this.opts.maxMessages ? `max_retained_messages (${this.opts.maxMessages})` : this.bytes + size > this.opts.maxBytes ? `max_retained_bytes (${this.opts.maxBytes})` : undefined;
      if (full) {
        this.refused?.inc();
        this.lines.event('full', (more) => ({
          fields: { topic, reason: 'retained_full', ...(more ? { more } : {}) },
          msg: `retained store full: ${topic} delivered but not retained: broker.${full} reached (raise it, or clear retained topics with an empty retained message)${more ? ` (and ${more} more in the last 60 s)` : ''}`,
        }));
        return false;
      }
    }
    this.sizes.set(topic, size);
    this.bytes += size - (old ?? 0);
    return true;
  }
}

/** broker.persistence memory: aedes-persistence's retained store under the bound. */
export class RetainedBoundedPersistence extends BoundedPersistence {
  constructor(
    opts: SessionQueueOptions,
    private readonly retained: RetainedBound,
  ) {
    super(opts);
  }

  async storeRetained(p: RetainedLike): Promise<void> {
    if (!this.retained.admit(p)) return;
    await super.storeRetained(p);
  }
}
