import type { Aedes, Client } from 'aedes';
import type { Logger } from '../log/logger.ts';
import type { PeerLog } from '../core/peer-log.ts';
import { filterCount, hasFilter, withFilter, withoutFilter, type Filters } from './filter-set.ts';

// broker.max_subscriptions (EMQX's mqtt.max_subscriptions), per client. aedes's matching cost grows
// faster than linearly with a client's filters: one SUBSCRIBE with 1,000 filters delayed another
// client's PUBACK by 0.9-1.5 s on a Pi-class machine, 3,000 made the SUBACK take over 10 s. Filters
// beyond the bound get SUBACK 0x80 (the rest of the packet is granted), are counted in
// `subscriptions/refused` and logged once a minute per peer. What a persistent session had when it
// is restored at connect is kept even over a lowered bound (one line), only new filters are refused.

/** Kept in the connection's ClientState (client-state.ts): no object or WeakMap entry of its own per connection. */
export interface Held {
  /** The filters this connection holds (restored, granted, minus unsubscribed); made at the first. */
  filters: Filters;
  /** Set once aedes sent CONNACK: before it, authorizeSubscribe is restoring the stored session. */
  live: boolean;
}

/** The subscriptions the broker refused: aedes hands every filter of a SUBSCRIBE to the store, refused or not. */
const refusedSubs = new WeakSet<object>();

export function markRefused(sub: object): void {
  refusedSubs.add(sub);
}

/** The subscriptions of `subs` that were granted (persistence stores only these). */
export function grantedOnly<T extends object>(subs: T[]): T[] {
  return subs.some((s) => refusedSubs.has(s)) ? subs.filter((s) => !refusedSubs.has(s)) : subs;
}

export class SubscriptionBound {
  /** Clients the broker's table does not know (none over the network). */
  private readonly held = new WeakMap<Client, Held>();

  constructor(
    private readonly max: number,
    private readonly refused: { inc(n?: number): void },
    private readonly peerLog: PeerLog,
    private readonly log: Pick<Logger, 'warn'>,
    private readonly stateOf: (client: Client) => Held | undefined = () => undefined,
  ) {}

  /** Unsubscribes free room; CONNACK ends the restore of a stored session. */
  wire(a: Aedes): void {
    a.on('unsubscribe', (topics, client) => {
      const h = this.stateOf(client) ?? this.held.get(client);
      if (h) for (const t of topics) h.filters = withoutFilter(h.filters, t);
    });
    a.on('connackSent', (_packet, client) => {
      const h = this.of(client);
      h.live = true;
      const n = filterCount(h.filters);
      if (n > this.max) {
        this.log.warn({ clientid: client.id, subscriptions: n, max_subscriptions: this.max }, `persistent session ${client.id} restored with ${n} subscriptions, more than broker.max_subscriptions (${this.max}): kept; new filters are refused until it unsubscribes below the bound`);
      }
    });
  }

  /** Whether `client` may hold `filter` (re-subscribing one it holds always may); records it when so. */
  admit(client: Client, ipaddress: string | undefined, filter: string): boolean {
    const h = this.of(client);
    if (hasFilter(h.filters, filter) || !h.live || filterCount(h.filters) < this.max) {
      h.filters = withFilter(h.filters, filter);
      return true;
    }
    this.refused.inc();
    this.peerLog.event('max_subscriptions', ipaddress, { clientid: client.id, topic: filter, max_subscriptions: this.max }, `subscribe refused (SUBACK 0x80): client ${client.id} holds broker.max_subscriptions (${this.max}) subscriptions; unsubscribe first, or raise the bound`);
    return false;
  }

  private of(client: Client): Held {
    let h = this.stateOf(client) ?? this.held.get(client);
    if (!h) this.held.set(client, (h = { filters: undefined, live: false }));
    return h;
  }
}
