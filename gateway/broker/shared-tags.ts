// Which messages in a persistent session's queue it got as a member of a shared subscription
// group, and which group: the hand-off state that must outlive the connection and, with
// broker.persistence disk, the process. The tag sits on the queued message itself (a WeakMap on
// the queue's own packet object; on disk a field `g` of its ENQ record, in the journal and the
// snapshot), so it is bounded by the session bounds and leaves with the message: a PUBACK clears
// it, a PUBREC replaces the PUBLISH with a PUBREL, a full queue drops it. When the member's
// session ends (expiry, a clean-session connect) or it stays offline past
// broker.shared_redispatch_after, the tagged messages go to another member (shared.ts handOff).

/** A queued message as the store keeps it (session-queue.ts QueuedPacket; not imported: that module imports this one). */
interface QueuedPacket {
  topic: string | undefined;
  payload?: Buffer | string;
  qos?: number;
  messageId?: number;
  brokerId?: string;
  brokerCounter?: number;
}

/** A tagged message taken from a member's queue for another member. */
export interface HandOff {
  group: string;
  packet: QueuedPacket;
}

/** What the shared subscriptions need from the session store (session-queue.ts, durable-persistence.ts). */
export interface ShareStore {
  readonly shareTags: ShareTags;
  /**
   * Offers each tagged message of the client's queue that may go to another member to `to`
   * (which delivers it and says true, or keeps it there with false); the ones taken leave the
   * queue (on disk: journaled after the deliveries' own records).
   */
  takeShared(clientId: string, to: (h: HandOff) => boolean): HandOff[];
  /** Tagged messages in the queues. */
  sharedQueued(): number;
  /** The client's tagged messages that takeShared could move (left after one: the store refused to move them). */
  movableShared(clientId: string): number;
  /**
   * Whether aedes has taken this connection's (Client's) queue to send it, which it does once per
   * connect, after restoring the session's subscriptions (so after the member joins its groups again).
   */
  queueSent(client: object): boolean;
  /** aedes's store call, used to queue a handed-on message for an offline member (inside `shareTags.during`). */
  outgoingEnqueue(sub: { clientId: string }, packet: QueuedPacket & { cmd: string }): Promise<void>;
}

export class ShareTags {
  private readonly tags = new WeakMap<object, string>();
  /** Client ids whose queue may hold tagged messages; pruned when found without any. */
  private readonly clients = new Set<string>();
  private current?: { clientId: string; group: string };
  /** While the store replays its journal: a session that ended then handed its messages off when it ended. */
  muted = false;
  /** A persistent session's queue is about to be discarded (expiry, a clean-session connect): set by shared.ts. */
  sessionEnds?: (clientId: string) => void;

  /**
   * Runs `fn` (aedes's Client.publish to a persistent member, which queues the delivery for the
   * member synchronously before it writes it) with the group that delivery is for.
   */
  during<T>(clientId: string, group: string, fn: () => T): T {
    this.current = { clientId, group };
    try {
      return fn();
    } finally {
      this.current = undefined;
    }
  }

  /** The group of the shared delivery being queued for `clientId` right now, if it is one. */
  claim(clientId: string): string | undefined {
    const c = this.current;
    if (c?.clientId !== clientId) return undefined;
    this.current = undefined;
    return c.group;
  }

  tag(item: object, clientId: string, group: string): void {
    this.tags.set(item, group);
    this.clients.add(clientId);
  }

  groupOf(item: object): string | undefined {
    return this.tags.get(item);
  }

  /** Whether the client's queue may hold tagged messages (restored or queued since). */
  has(clientId: string): boolean {
    return this.clients.has(clientId);
  }

  /**
   * The tagged messages of a queue that may go to another member: QoS 1, and QoS 2 not yet sent.
   * A QoS 2 message once sent stays with its member [MQTT-4.8.2-5] (the member may have delivered
   * it already); a PUBREL (the member sent PUBREC) carries no tag.
   */
  movable(clientId: string, items: readonly QueuedPacket[] | undefined): HandOff[] {
    const out: HandOff[] = [];
    for (const packet of items ?? []) {
      const group = this.tags.get(packet);
      if (group === undefined || (packet as { cmd?: string }).cmd === 'pubrel' || packet.topic === undefined) continue;
      if (packet.qos === 2 && packet.messageId !== undefined) continue;
      out.push({ group, packet });
    }
    if (!out.length && !items?.some((p) => this.tags.has(p))) this.clients.delete(clientId);
    return out;
  }

  /** Tagged messages in the queues (the gauge messages/shared/inflight counts them with the clean members' in-flight ones). */
  count(queueOf: (clientId: string) => readonly QueuedPacket[] | undefined): number {
    let n = 0;
    for (const c of [...this.clients]) {
      const items = queueOf(c);
      let k = 0;
      for (const p of items ?? []) if (this.tags.has(p)) k++;
      if (!k) this.clients.delete(c);
      n += k;
    }
    return n;
  }
}
