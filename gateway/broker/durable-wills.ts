import { Readable } from 'node:stream';
import type { Principal } from '../auth/acl.ts';
import { PublishRejected, type IngressMessage } from '../core/message.ts';
import type { Logger } from '../log/logger.ts';
import type { FrameRecord } from './durable-frames.ts';
import type { Journal } from './durable-journal.ts';
import { K, RESTORED_ID, frame, packetFrame, type StoredPacket } from './durable-records.ts';
import { isShareTopic } from './shared.ts';

// The will part of aedes' persistence interface (putWill, getWill, delWill, streamWill) for
// broker.persistence disk. The will of a persistent session (clean session 0) is journaled with
// the rest of the session, on disk before the CONNACK, with who set it (user name, address,
// listener: the ACL's principal); a clean session's will stays in memory, as its subscriptions do.
//
// aedes' semantics for a will whose broker is gone: each will carries the id of the broker that
// holds its client's connection, and aedes publishes (authorizePublish with no client, publish,
// delWill) every will `streamWill(brokers)` yields for a broker id that sent no heartbeat lately.
// The gateway that held a restored will's connection died (or stopped before the will could go
// out), so a will read back at start is owed (MQTT 3.1.1 section 3.1.2.5: a connection closed
// without DISCONNECT). aedes' own sweep would publish it 4 min after start, by when the client may
// have reconnected and replaced it, and without the ingress path (no ACL, no bridge log: aedes
// calls authorizePublish with no client). So the broker sets the restored wills aside before any
// listener opens (holdRestored: a reconnecting client's new will cannot replace them, aedes' sweep
// never sees them), and the gateway publishes them once the bridge is up (publishRestored), each
// through the ACL under its owner's principal and the ingress hooks, like any publish: persistent
// subscribers get it queued, a retained will is stored, and the bridge forwards it. Until then
// they stay on disk (a crash before that publishes them at the next start).
export interface WillPacket extends StoredPacket {
  clientId?: string;
}

/** Who set a will: the ACL's principal for its publish, bar the client id. */
export interface WillOwner {
  username?: string;
  ipaddress?: string;
  listener?: string;
}

interface Held {
  will: WillPacket;
  /** Journaled (a persistent session's). */
  kept: boolean;
  owner?: WillOwner;
}

/** How restored wills are published: the ACL, then the ingress hooks (the bridge log), then aedes. */
export interface WillIngress {
  mayPublish(p: Principal, topic: string): boolean;
  accept(msg: IngressMessage): Promise<void>;
  publish(will: WillPacket): Promise<void>;
  /** A will not published, counted as a live publish refused for `reason` would be (not_authorized: the ACL). */
  dropped(reason: string): void;
}

export class WillStore {
  readonly wills = new Map<string, Held>();
  /** aedes (its id is read at each put, as aedes-persistence does). */
  broker: { id?: string; closed?: boolean } = { id: 'fieldgate' };
  /** The owner of a client's will (set by the broker, which knows its connections). */
  owner?: (client: object) => WillOwner | undefined;
  /** Restored wills set aside at start, by client id, until publishRestored. */
  private readonly pending = new Map<string, Held>();

  constructor(private readonly journal: () => Journal) {}

  async put(client: { id: string; clean?: boolean }, packet: WillPacket): Promise<void> {
    packet.brokerId = this.broker.id;
    packet.clientId = client.id;
    const kept = client.clean === false;
    const had = this.wills.get(client.id);
    const o = this.owner?.(client);
    const owner = o && { username: o.username, ipaddress: o.ipaddress, listener: o.listener };
    this.wills.set(client.id, { will: packet, kept, owner });
    if (kept) {
      this.journal().append(packetFrame(K.WILL, { c: client.id, ...(owner && { o: owner }) }, packet));
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
  restore(clientId: string, packet: WillPacket, owner?: WillOwner): void {
    packet.brokerId = RESTORED_ID;
    packet.clientId = clientId;
    this.wills.set(clientId, { will: packet, kept: true, owner });
  }

  /** At start, before any listener opens: the restored wills are set aside for publishRestored. */
  holdRestored(): void {
    for (const [c, h] of this.wills) {
      if (h.will.brokerId !== RESTORED_ID) continue;
      this.wills.delete(c);
      this.pending.set(c, h);
    }
  }

  /** The journaled wills, for a snapshot (taken now); a set-aside will unless a newer one of its client replaced it on disk. */
  records(): FrameRecord[] {
    const held = [...this.wills].filter(([, h]) => h.kept);
    for (const [c, h] of this.pending) if (!this.wills.get(c)?.kept) held.push([c, h]);
    return held.map(([c, h]) => packetFrame(K.WILL, { c, ...(h.owner && { o: h.owner }) }, h.will));
  }

  /**
   * Once the bridge is up: publishes each restored will through `via`, once, then deletes it on
   * disk (unless its client has since set a new will, whose record replaced it there). A will the
   * ACL or an ingress hook refuses is dropped with one line and counted, as a live publish would be
   * (messages/dropped; messages/dropped/not_authorized when the ACL refused it).
   */
  async publishRestored(via: WillIngress, log: Pick<Logger, 'info' | 'warn'>): Promise<number> {
    let n = 0;
    for (const [c, h] of [...this.pending]) {
      const { will } = h;
      const topic = will.topic ?? '';
      const p: Principal = { clientid: c, protocol: 'mqtt', ...h.owner };
      if (!h.owner) {
        // Journaled before the owner was kept: whose publish it was is unknown, so no ACL answer can
        // be trusted (as anonymous it could pass an allow-all nomatch the real user never had).
        log.warn({ clientid: c, topic }, 'will of a persistent session (from the last run) has no owner on disk (written by an older version): denied, not published');
        via.dropped('not_authorized');
      } else if (!topic || topic.includes('\u0000') || isShareTopic(topic) || !via.mayPublish(p, topic)) {
        log.warn({ clientid: c, topic }, 'will of a persistent session (from the last run) denied by ACL: not published');
        via.dropped('not_authorized');
      } else {
        const payload = typeof will.payload === 'string' ? Buffer.from(will.payload) : (will.payload ?? Buffer.alloc(0));
        const msg: IngressMessage = { topic, payload, qos: (will.qos ?? 0) > 0 ? 1 : 0, retain: will.retain === true, origin: 'mqtt', clientid: c };
        try {
          await via.accept(msg);
          await via.publish(will);
          n++;
        } catch (err) {
          log.warn({ clientid: c, topic, err: (err as Error).message }, `will of a persistent session (from the last run) not accepted, not published: ${(err as Error).message}`);
          via.dropped(err instanceof PublishRejected ? err.reason : 'internal_error');
        }
      }
      this.pending.delete(c);
      if (!this.wills.get(c)?.kept) this.journal().append(frame(K.WILL_DEL, { c }));
    }
    // One fsync for all (a crash before it publishes them again at the next start).
    await this.journal().commit().catch(() => {});
    if (n) log.info({ wills: n }, `broker persistence: published ${n} will messages of persistent sessions whose connection the last run ended without DISCONNECT (a crash, kill -9 or power cut)`);
    return n;
  }
}
