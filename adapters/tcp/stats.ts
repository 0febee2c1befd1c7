import type { AdapterContext } from '../../gateway/core/adapter.ts';
import type { Counter, SessionStats } from './session.ts';

/**
 * The adapter's counters, created once so the per-frame path does no name lookups. Names land under
 * `adapters/tcp/` in the gateway's metrics and in `$SYS/brokers/{node}/metrics/adapters/tcp/...`.
 */
export class TcpStats implements SessionStats {
  readonly connectionsTotal: Counter;
  readonly connectionsRejected: Counter;
  readonly received: Counter;
  readonly acked: Counter;
  readonly duplicate: Counter;
  readonly sent: Counter;
  readonly retransmitted: Counter;
  readonly droppedQueueFull: Counter;
  readonly droppedTooLarge: Counter;
  readonly droppedSlow: Counter;
  readonly droppedOffline: Counter;
  readonly subscribeDenied: Counter;
  readonly sessionsEvicted: Counter;
  readonly bytesIn: Counter;
  readonly bytesOut: Counter;

  constructor(private readonly metrics: AdapterContext['metrics']) {
    this.connectionsTotal = metrics.counter('connections/total');
    this.connectionsRejected = metrics.counter('connections/rejected');
    this.received = metrics.counter('messages/received');
    this.acked = metrics.counter('messages/acked');
    this.duplicate = metrics.counter('messages/duplicate');
    this.sent = metrics.counter('messages/sent');
    this.retransmitted = metrics.counter('messages/retransmitted');
    this.droppedQueueFull = metrics.counter('messages/dropped/{reason}', { reason: 'queue_full' });
    this.droppedTooLarge = metrics.counter('messages/dropped/{reason}', { reason: 'too_large' });
    this.droppedSlow = metrics.counter('messages/dropped/{reason}', { reason: 'slow_consumer' });
    this.droppedOffline = metrics.counter('messages/dropped/{reason}', { reason: 'offline' });
    this.subscribeDenied = metrics.counter('subscriptions/denied');
    this.sessionsEvicted = metrics.counter('sessions/evicted');
    this.bytesIn = metrics.counter('bytes/received');
    this.bytesOut = metrics.counter('bytes/sent');
  }

  /** One counter per close reason: `closed/parse_error`, `closed/keepalive_timeout`, ... */
  closed(reason: string): void {
    this.metrics.counter('closed/{reason}', { reason }).inc();
  }

  /** An uplink the gateway did not accept: `messages/dropped/not_authorized`, ... */
  dropped(reason: string): void {
    this.metrics.counter('messages/dropped/{reason}', { reason }).inc();
  }
}
