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
// `messages/retained/refused`, with one log line a minute. A replacement is counted by its byte
// delta: one that would take the store over max_retained_bytes is not retained either, and the
// old retained message is removed too, because it is superseded and a new subscriber must not be
// told a stale value (without this, replacing 150 topics with 1 MB each would pass any bound and
// exhaust the unit's heap). Clearing (empty payload) always works. The gateway's own `$SYS/`
// topics are not counted and never refused.

export interface RetainedBoundOptions {
  maxMessages: number;
  maxBytes: number;
  log: Pick<Logger, 'warn'>;
  metrics?: Metrics;
}

export type RetainedVerdict = 'keep' | 'refuse' | 'supersede';

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
   * Whether `p` (a message with the retain flag) is stored; records it when so. `keep`: store it;
   * `refuse`: do not store it (a new topic, nothing was retained); `supersede`: do not store it and
   * remove the topic's old retained message (a replacement over the byte bound). A clear (empty
   * payload) is always kept. `force`: replaying the store at start (what was kept stays).
   */
  admit(p: RetainedLike, force = false): RetainedVerdict {
    const topic = p.topic;
    if (typeof topic !== 'string' || topic.startsWith('$SYS/')) return 'keep';
    const empty = p.payload === undefined || p.payload.length === 0;
    const old = this.sizes.get(topic);
    if (empty) {
      this.forget(topic);
      return 'keep';
    }
    const size = bytesOf(p);
    if (!force) {
      const full =
        old === undefined && this.sizes.size + 1 > this.opts.maxMessages
          ? `max_retained_messages (${this.opts.maxMessages})`
          : this.bytes - (old ?? 0) + size > this.opts.maxBytes
            ? `max_retained_bytes (${this.opts.maxBytes})`
            : undefined;
      if (full) {
        this.refuse(topic, full, old !== undefined);
        if (old === undefined) return 'refuse';
        this.forget(topic);
        return 'supersede';
      }
    }
    this.sizes.set(topic, size);
    this.bytes += size - (old ?? 0);
    return 'keep';
  }

  private forget(topic: string): void {
    const old = this.sizes.get(topic);
    if (old === undefined) return;
    this.sizes.delete(topic);
    this.bytes -= old;
  }

  private refuse(topic: string, bound: string, replaced: boolean): void {
    this.refused?.inc();
    const what = replaced ? 'delivered but not retained, and its old retained message removed' : 'delivered but not retained';
    this.lines.event('full', (more) => ({
      fields: { topic, reason: 'retained_full', ...(replaced ? { superseded: true } : {}), ...(more ? { more } : {}) },
      msg: `retained store full: ${topic} ${what}: broker.${bound} reached (raise it, or clear retained topics with an empty retained message)${more ? ` (and ${more} more in the last 60 s)` : ''}`,
    }));
  }
}

/** The retained-message clear that replaces a superseded one (`admit` said `supersede`). */
export function clearOf<T extends RetainedLike>(p: T): T {
  return { ...p, payload: Buffer.alloc(0) };
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
    const verdict = this.retained.admit(p);
    if (verdict === 'refuse') return;
    await super.storeRetained(verdict === 'keep' ? p : clearOf(p));
  }
}
