import { createRequire } from 'node:module';
import { Readable } from 'node:stream';

// aedes-persistence's in-memory store keeps each session's outgoing queue (in-flight plus offline
// messages) in an unbounded array, so one offline subscriber on a busy topic grows the heap until
// the Pi dies. This subclass keeps the same contract but bounds every queue like EMQX's mqueue:
// `max_queued_messages` per session, the oldest dropped and counted. Everything else (retained
// messages, subscriptions, wills, QoS 2 state) stays with the library.
const require = createRequire(import.meta.url);
const MemoryPersistence: new (opts?: object) => any = require('aedes-persistence/asyncPersistence.js');
const Packet: new (p: any) => any = require('aedes-packet');

interface QueuedPacket {
  brokerId?: string;
  brokerCounter?: number;
  messageId?: number;
  topic: string;
}

export interface SessionQueueOptions {
  maxQueued: number;
  onDrop(clientId: string, dropped: QueuedPacket): void;
}

export function createBoundedPersistence(opts: SessionQueueOptions) {
  class BoundedPersistence extends MemoryPersistence {
    readonly queues = new Map<string, QueuedPacket[]>();

    private enqueueOne(clientId: string, packet: object): void {
      let q = this.queues.get(clientId);
      if (!q) {
        q = [];
        this.queues.set(clientId, q);
      }
      q.push(new Packet(packet));
      while (q.length > opts.maxQueued) opts.onDrop(clientId, q.shift()!);
    }

    async outgoingEnqueue(sub: { clientId: string }, packet: object): Promise<void> {
      this.enqueueOne(sub.clientId, packet);
    }

    async outgoingEnqueueCombi(subs: { clientId: string }[], packet: object): Promise<void> {
      for (const s of subs) this.enqueueOne(s.clientId, packet);
    }

    async outgoingUpdate(client: { id: string }, packet: QueuedPacket): Promise<void> {
      const q = this.queues.get(client.id) ?? [];
      for (let i = 0; i < q.length; i++) {
        const p = q[i];
        if (p!.brokerId === packet.brokerId) {
          if (p!.brokerCounter === packet.brokerCounter) {
            p!.messageId = packet.messageId;
            return;
          }
        } else if (p!.messageId === packet.messageId) {
          q[i] = packet;
          return;
        }
      }
      // The packet was dropped from a full queue after aedes took it for delivery. Throwing here
      // would make aedes disconnect the subscriber; deliver it untracked instead (a later PUBACK
      // finds nothing to clear, which is harmless).
    }

    async outgoingClearMessageId(client: { id: string }, packet: { messageId?: number }): Promise<QueuedPacket | undefined> {
      const q = this.queues.get(client.id);
      if (!q) return undefined;
      const i = q.findIndex((p) => p.messageId === packet.messageId);
      if (i < 0) return undefined;
      const [p] = q.splice(i, 1);
      if (q.length === 0) this.queues.delete(client.id);
      return p;
    }

    outgoingStream(client: { id: string }): Readable {
      return Readable.from([...(this.queues.get(client.id) ?? [])]);
    }

    // A clean session discards its queue along with its subscriptions [MQTT-3.1.2-6].
    async cleanSubscriptions(client: { id: string }): Promise<void> {
      this.queues.delete(client.id);
      await super.cleanSubscriptions(client);
    }

    queuedTotal(): number {
      let n = 0;
      for (const q of this.queues.values()) n += q.length;
      return n;
    }
  }
  return new BoundedPersistence();
}

export type BoundedPersistence = ReturnType<typeof createBoundedPersistence>;
