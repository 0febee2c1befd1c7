import { Readable } from 'node:stream';
import type { Logger } from '../log/logger.ts';
import type { FrameRecord } from './durable-frames.ts';
import type { Journal } from './durable-journal.ts';
import { K, RESTORED_ID, frame, packetFrame, type StoredPacket } from './durable-records.ts';

// The will part of aedes' persistence interface (putWill, getWill, delWill, streamWill) for
// broker.persistence disk. The will of a persistent session (clean session 0) is journaled with
// the rest of the session, on disk before the CONNACK; a clean session's will stays in memory, as
// its subscriptions do.
//
// aedes' semantics for a will whose broker is gone: each will carries the id of the broker that
// holds its client's connection, and aedes publishes (authorizePublish with no client, publish,
// delWill) every will `streamWill(brokers)` yields for a broker id that sent no heartbeat lately.
// The gateway that held a restored will's connection died (or stopped before the will could go
// out), so a will read back at start carries RESTORED_ID, a broker id no live broker has: aedes'
// own sweep would publish it at its first run (4 heartbeats, 4 min, after start), but by then the
// client may have reconnected and replaced it. So the broker runs the same sweep once at start,
// before any listener opens (publishRestoredWills): as MQTT 3.1.1 section 3.1.2.5 asks for a
// connection closed without DISCONNECT, the will is published; persistent subscribers get it queued,
// and a retained will is stored.

export interface WillPacket extends StoredPacket {
  clientId?: string;
}

interface Held {
  will: WillPacket;
  /** Journaled (a persistent session's). */
  kept: boolean;
}

export class WillStore {
  readonly wills = new Map<string, Held>();
  /** aedes (its id is read at each put, as aedes-persistence does). */
  broker: { id?: string; closed?: boolean } = { id: 'fieldgate' };

  constructor(private readonly journal: () => Journal) {}

  async put(client: { id: string; clean?: boolean }, packet: WillPacket): Promise<void> {
    packet.brokerId = this.broker.id;
    packet.clientId = client.id;
    const kept = client.clean === false;
    const had = this.wills.get(client.id);
    this.wills.set(client.id, { will: packet, kept });
    if (kept) {
      this.journal().append(packetFrame(K.WILL, { c: client.id }, packet));
      // On a full disk the will is kept in memory and saved with the next snapshot: the client connects.
      await this.journal().commit().catch(() => {});
    } else if (had?.kept) this.journal().append(frame(K.WILL_DEL, { c: client.id }));
  }

  get(client: { id: string }): WillPacket | undefined {
    return this.wills.get(client.id)?.will;
  }

  del(client: { id: string }): WillPacket | undefined {
    const held = this.wills.get(client.id);
    this.wills.delete(client.id);
    // A clean stop closes every connection without publishing wills (publishes are refused while
    // the gateway stops): the journaled ones stay, and the next start publishes them.
    if (held?.kept && !this.broker.closed) {
      this.journal().append(frame(K.WILL_DEL, { c: client.id }));
      // aedes does not wait for this (a DISCONNECT, or the will just published): written at once
      // rather than within 2 s, so a crash right after seldom brings the will back.
      this.journal().commit().catch(() => {});
    }
    return held?.will;
  }

  stream(brokers: Record<string, unknown> = {}): Readable {
    const wills = [...this.wills.values()].map((h) => h.will).filter((w) => !brokers[w.brokerId!]);
    return Readable.from(wills);
  }

  /** Replay: a journaled will, now of a broker that is gone. */
  restore(clientId: string, packet: WillPacket): void {
    packet.brokerId = RESTORED_ID;
    packet.clientId = clientId;
    this.wills.set(clientId, { will: packet, kept: true });
  }

  /** The journaled wills, for a snapshot (taken now). */
  records(): FrameRecord[] {
    return [...this.wills].filter(([, h]) => h.kept).map(([c, h]) => packetFrame(K.WILL, { c }, h.will));
  }
}

interface AedesLike {
  id: string;
  authorizePublish(client: null, packet: WillPacket, cb: (err?: Error | null) => void): void;
  publish(packet: WillPacket, cb: (err?: Error) => void): void;
}

/** aedes' will sweep, once: publishes the wills of clients whose broker is gone (all restored ones). */
export async function publishOrphanWills(aedes: AedesLike, store: WillStore, log: Pick<Logger, 'info' | 'warn'>): Promise<number> {
  let n = 0;
  for await (const will of store.stream({ [aedes.id]: Date.now() }) as AsyncIterable<WillPacket>) {
    const ok = await new Promise<boolean>((resolve) => aedes.authorizePublish(null, will, (err) => resolve(!err)));
    if (ok) await new Promise<void>((resolve) => aedes.publish(will, () => resolve()));
    store.del({ id: will.clientId! });
    n++;
  }
  if (n) log.info({ wills: n }, `broker persistence: published ${n} will messages of persistent sessions whose connection the last run ended without DISCONNECT (a crash, kill -9 or power cut)`);
  return n;
}
