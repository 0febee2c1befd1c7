import { Readable } from 'node:stream';

// aedes registers a SUBSCRIBE's subscriptions, then reads the matching retained messages from a
// stream (read ahead) and sends them one per event-loop turn. A topic published live meanwhile
// reaches the subscriber through the new subscription first, and its retained value read before
// (older) after it: the subscriber would end on a stale value (a $SYS modem leaf that changed just
// after a watcher subscribed). So, per client and only while its retained streams are in progress,
// the topics it got live since each stream began are noted, and a retained copy of such a topic
// from that stream is not sent (the subscriber already has a value at least as new).

interface ClientOrder {
  /** Counts live messages forwarded to the client while streams run. */
  seq: number;
  /** Topic -> seq of its last live message. */
  live: Map<string, number>;
  /** Topic -> the start (seq) of each stream that yielded a retained copy of it, not yet at authorizeForward. */
  pending: Map<string, number[]>;
  items: number;
  streams: number;
}

/** A retained message aedes sends for a new subscription: it sets brokerId null (no live publish has). */
export function isRetainedCopy(p: { retain?: boolean; brokerId?: string | null }): boolean {
  return p.retain === true && p.brokerId === null;
}

export class RetainedOrder {
  private readonly clients = new WeakMap<object, ClientOrder>();
  /** From aedes's 'subscribe' event, which it emits just before it asks the store for the retained stream. */
  private next?: { client: object; topics: Set<string> };

  /** aedes's 'subscribe' event (listener). */
  readonly subscribed = (subs: { topic: string }[], client: object): void => {
    const next = (this.next = { client, topics: new Set(subs.map((s) => s.topic)) });
    // aedes asks for the stream in the same turn, or not at all (every filter refused).
    queueMicrotask(() => {
      if (this.next === next) this.next = undefined;
    });
  };

  /** Tracks the retained stream aedes reads for the SUBSCRIBE it just announced (`patterns`: its granted filters). */
  stream(patterns: string[], src: Readable): Readable {
    const next = this.next;
    this.next = undefined;
    if (!next || !patterns.every((p) => next.topics.has(p))) return src;
    const { client } = next;
    let o = this.clients.get(client);
    if (!o) this.clients.set(client, (o = { seq: 0, live: new Map(), pending: new Map(), items: 0, streams: 0 }));
    const order = o;
    const start = order.seq;
    order.streams++;
    const done = () => {
      order.streams--;
      this.close(client, order);
    };
    return Readable.from(
      (async function* () {
        try {
          for await (const p of src as AsyncIterable<{ topic: string }>) {
            const starts = order.pending.get(p.topic);
            if (starts) starts.push(start);
            else order.pending.set(p.topic, [start]);
            order.items++;
            yield p;
          }
        } finally {
          done();
        }
      })(),
    );
  }

  /**
   * aedes's authorizeForward: false for a retained copy of a topic the client got live after the
   * stream that read it began. Notes live messages while the client has streams in progress.
   */
  forward(client: object, packet: { topic: string; retain?: boolean; brokerId?: string | null }): boolean {
    const o = this.clients.get(client);
    if (!o) return true;
    const topic = packet.topic;
    if (!isRetainedCopy(packet)) {
      o.live.set(topic, ++o.seq);
      return true;
    }
    const starts = o.pending.get(topic);
    if (!starts) return true;
    // Which stream this copy came from is not known when two overlap on a topic: the earliest
    // start decides (a stale copy is never sent), and the latest entry is used up.
    const first = Math.min(...starts);
    starts.splice(starts.indexOf(Math.max(...starts)), 1);
    if (!starts.length) o.pending.delete(topic);
    o.items--;
    const fresh = (o.live.get(topic) ?? 0) <= first;
    this.close(client, o);
    return fresh;
  }

  /** Whether the client has retained streams in progress (tests, and the state's bound). */
  tracking(client: object): boolean {
    return this.clients.has(client);
  }

  private close(client: object, o: ClientOrder): void {
    if (o.streams === 0 && o.items === 0) this.clients.delete(client);
  }
}
