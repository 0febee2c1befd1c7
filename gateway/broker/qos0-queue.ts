import type { AedesPublishPacket } from 'aedes';
import { topicMatches } from '../core/topic.ts';
import type { BoundedPersistence } from './session-queue.ts';

/**
 * broker.queue_qos0: QoS 0 messages for offline persistent sessions are queued too (aedes queues
 * only QoS 1/2 messages for QoS 1/2 subscriptions). Knows the QoS 0 subscriptions of persistent
 * sessions (aedes-persistence indexes only QoS > 0 ones by topic) and, after each publish, queues a
 * QoS 0 copy for every offline session that has a matching subscription aedes did not queue for.
 */
export class Qos0Queue {
  /** QoS 0 filters of persistent sessions, by client id. */
  private readonly filters = new Map<string, Set<string>>();

  constructor(private readonly persistence: BoundedPersistence, private readonly offline: (clientId: string) => boolean) {}

  subscribed(clientId: string, filter: string, qos: number): void {
    if (qos > 2) return; // refused (SUBACK 0x80)
    let set = this.filters.get(clientId);
    if (qos > 0) {
      set?.delete(filter);
      return;
    }
    if (!set) this.filters.set(clientId, (set = new Set()));
    set.add(filter);
  }

  unsubscribed(clientId: string, filter: string): void {
    this.filters.get(clientId)?.delete(filter);
  }

  forget(clientId: string): void {
    this.filters.delete(clientId);
  }

  async published(packet: AedesPublishPacket): Promise<void> {
    if (packet.topic.startsWith('$')) return;
    const targets = new Set<string>();
    for (const [id, set] of this.filters) {
      if (!this.offline(id)) continue;
      for (const f of set) {
        if (topicMatches(f, packet.topic)) {
          targets.add(id);
          break;
        }
      }
    }
    // A QoS 0 message is not queued by aedes even for QoS 1 subscriptions.
    if (packet.qos === 0) {
      const subs = (await this.persistence.subscriptionsByTopic(packet.topic)) as { clientId: string }[];
      for (const s of subs) if (this.offline(s.clientId)) targets.add(s.clientId);
    }
    if (!targets.size) return;
    const copy = { cmd: 'publish', topic: packet.topic, payload: packet.payload, qos: 0, retain: false, dup: false, brokerId: packet.brokerId, brokerCounter: packet.brokerCounter };
    await this.persistence.outgoingEnqueueCombi([...targets].map((clientId) => ({ clientId })), copy);
  }
}
