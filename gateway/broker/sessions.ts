import { RateLimitedLog, moreLine, moreSuffix } from '../core/log-limit.ts';
import type { BrokerConfig } from '../config/schema.ts';
import type { Logger } from '../log/logger.ts';
import { DurablePersistence } from './durable-persistence.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { RetainedBound, RetainedBoundedPersistence } from './retained-bound.ts';
import type { BoundedPersistence, DropWhy, SessionQueueOptions } from './session-queue.ts';

// Persistent sessions (clean session 0) by client id: which are online, since when the others are
// offline, and which have outlived `session_expiry_interval`. Bounded by `max_sessions`.

interface Entry {
  online: boolean;
  /** When it went offline (ms). */
  since: number;
}

export class SessionTable {
  private readonly sessions = new Map<string, Entry>();
  /**
   * Persistent sessions whose client aedes has registered and not yet made ready: it sends the
   * session's queue in between, so the session is neither to expire nor to hand its messages on.
   */
  private readonly connecting = new Map<string, { closed: boolean }>();

  constructor(private readonly maxSessions: number, private readonly expiryMs: number, private readonly now: () => number = Date.now) {}

  get size(): number {
    return this.sessions.size;
  }

  has(clientId: string): boolean {
    return this.sessions.has(clientId);
  }

  /** False when a new session would pass `max_sessions` (an existing one may always resume). */
  mayOpen(clientId: string): boolean {
    return this.sessions.has(clientId) || this.sessions.size < this.maxSessions;
  }

  /** A session restored from disk at start: offline, its expiry counted from now. */
  restored(clientId: string): void {
    if (!this.sessions.has(clientId)) this.sessions.set(clientId, { online: false, since: this.now() });
  }

  online(clientId: string): void {
    this.connecting.delete(clientId);
    this.sessions.set(clientId, { online: true, since: 0 });
  }

  /** aedes registered this connection of a persistent session (its 'client' event): its queue is about to be sent. */
  connectStarted(clientId: string, client: { closed: boolean }): void {
    this.connecting.set(clientId, client);
  }

  /** The connection ended (ready or not): a connect that failed before ready no longer holds the session. */
  connectEnded(clientId: string, client: object): void {
    if (this.connecting.get(clientId) === client) this.connecting.delete(clientId);
  }

  /** A connection of this session is between aedes's registration and ready (sending the session's queue). */
  isConnecting(clientId: string): boolean {
    return this.connecting.get(clientId)?.closed === false;
  }

  offline(clientId: string): void {
    const e = this.sessions.get(clientId);
    if (e) {
      e.online = false;
      e.since = this.now();
    }
  }

  forget(clientId: string): void {
    this.connecting.delete(clientId);
    this.sessions.delete(clientId);
  }

  /**
   * Removes and returns the offline sessions older than the expiry interval (none when it is 0);
   * not one whose client is connecting (its queue being sent: expiring it would hand its shared
   * messages on as its new connection gets them).
   */
  takeExpired(): string[] {
    if (this.expiryMs <= 0) return [];
    const cutoff = this.now() - this.expiryMs;
    const out: string[] = [];
    for (const [id, e] of this.sessions) if (!e.online && e.since <= cutoff && !this.isConnecting(id)) out.push(id);
    for (const id of out) this.sessions.delete(id);
    return out;
  }
}

/**
 * The broker's session persistence with its bounds from the config; every drop is counted through
 * `counted` (which returns the running total) and logged once a minute per bound, with the count.
 */
export function sessionPersistence(cfg: BrokerConfig, log: Logger, counted: () => number, dir?: string, metrics?: Metrics): BoundedPersistence {
  const limit: Record<DropWhy, string> = {
    queue_full: `max_queued_messages (${cfg.max_queued_messages})`,
    session_bytes: `max_session_queue_bytes (${cfg.max_session_queue_bytes})`,
    total_bytes: `max_queued_bytes (${cfg.max_queued_bytes}, all sessions together)`,
  };
  let total = 0;
  const dropLog = new RateLimitedLog({
    intervalMs: 60_000,
    write: (f, m) => log.warn(f, m),
    flush: (n, why) => ({ fields: { reason: why, more: n, dropped_total: total }, msg: moreLine(n, `messages dropped from session queues (${limit[why as DropWhy]})`, 60_000) }),
  });
  const opts: SessionQueueOptions = {
    maxQueued: cfg.max_queued_messages,
    maxSessionBytes: cfg.max_session_queue_bytes,
    maxTotalBytes: cfg.max_queued_bytes,
    onDrop: (clientId, p, why) => {
      total = counted();
      dropLog.event(why, (more) => ({
        fields: { clientid: clientId, topic: p.topic, reason: why, dropped_total: total, ...(more ? { more } : {}) },
        msg: `session queue full: dropped ${why === 'total_bytes' ? 'the new' : 'the oldest'} message for ${clientId}: ${limit[why]} reached (raise it, or reconnect the client)${moreSuffix(more, 60_000)}`,
      }));
    },
  };
  const retained = new RetainedBound({ maxMessages: cfg.max_retained_messages, maxBytes: cfg.max_retained_bytes, log, ...(metrics && { metrics }) });
  return cfg.persistence === 'disk' && dir ? new DurablePersistence({ ...opts, dir, log, retained }) : new RetainedBoundedPersistence(opts, retained);
}
