import type { DeviceIdentity, MessageApi } from '../../gateway/core/adapter.ts';
import { deviceIp } from '../../gateway/core/identity.ts';
import type { PeerLog } from '../../gateway/core/peer-log.ts';
import { V2, type ConnectPacket } from './codec.ts';
import { DeviceSession, type DownlinkSink, type SessionLimits } from './session.ts';
import type { TcpStats } from './stats.ts';

/** The connection side of a session: a sink for downlinks that can also be kicked off. */
export interface SessionOwner extends DownlinkSink {
  /** Closes the connection at once with `reason` (a newer connection took the client id). */
  kick(reason: string): void;
}

interface Entry {
  session: DeviceSession;
  owner?: SessionOwner;
}

/**
 * All client ids the adapter knows, connected or remembered. One connection per client id: a new
 * CONNECT takes the id over (EMQX: `discarded` for a clean start, `takenover` for a resume). Opening
 * is serialised per client id so two racing CONNECTs cannot both subscribe.
 *
 * Remembered sessions are bounded by `maxSessions`: a new client id over the bound evicts the
 * sessions whose connection left longest ago. Connected ones are never evicted, so the store exceeds
 * the bound only while more devices than that are connected.
 */
export class SessionStore {
  private readonly entries = new Map<string, Entry>();
  /** The entries without a connection, in the order their connection left: eviction candidates, oldest first. */
  private readonly idle = new Map<string, Entry>();
  private readonly locks = new Map<string, Promise<void>>();

  constructor(
    private readonly messages: MessageApi,
    private readonly limits: SessionLimits & { sessionExpiry: number; maxSessions: number },
    private readonly stats: TcpStats,
    private readonly peerLog: PeerLog,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /**
   * Attaches `owner` to the session of `p.clientid`. Returns whether a stored session was resumed
   * (v2 CONNACK session-present), or undefined when the owner went away while waiting.
   */
  open(owner: SessionOwner & { closed: boolean }, p: ConnectPacket, device: DeviceIdentity, dnTopic: string): Promise<{ session: DeviceSession; present: boolean } | undefined> {
    return this.locked(p.clientid, async () => {
      if (owner.closed) return undefined;
      let e = this.entries.get(p.clientid);
      if (e?.owner && e.owner !== owner) e.owner.kick(p.resume ? 'takenover' : 'discarded');
      e = this.entries.get(p.clientid);
      const resumable = p.version === V2 && p.resume;
      if (e && resumable && e.session.resumable && e.session.subscription) {
        this.attach(e, owner);
        return { session: e.session, present: true };
      }
      if (e) {
        // A clean start: forget downlinks, keep the uplink ids (a retransmission may still come).
        await e.session.clear();
      } else {
        e = { session: new DeviceSession(p.clientid, this.limits, this.stats) };
        this.entries.set(p.clientid, e);
        this.evict();
      }
      const s = e.session;
      s.resumable = resumable;
      if (dnTopic) {
        try {
          s.subscription = await this.messages.subscribe(dnTopic, (m) => s.deliver(m), device);
        } catch (err) {
          // The device may still publish; it just gets no downlink. Said at connect, rate-limited per address (it can reconnect at will).
          this.stats.subscribeDenied.inc();
          this.peerLog.event('subscribe_denied', deviceIp(device), { clientid: p.clientid, topic: dnTopic, err: (err as Error).message }, `no downlink for tcp device ${p.clientid}: ${(err as Error).message}`);
        }
      }
      if (owner.closed) {
        // The device vanished while we subscribed: undo, as release() will not see us.
        this.forget(e);
        return undefined;
      }
      this.attach(e, owner);
      return { session: s, present: false };
    });
  }

  private attach(e: Entry, owner: SessionOwner): void {
    if (this.idle.get(e.session.clientid) === e) this.idle.delete(e.session.clientid);
    if (e.session.expiryTimer) clearTimeout(e.session.expiryTimer);
    e.session.expiryTimer = undefined;
    e.owner = owner;
    e.session.sink = owner;
  }

  /** The owner's connection closed. What survives depends on the version and the resume flag. */
  release(owner: SessionOwner, clientid: string, version: number): void {
    const e = this.entries.get(clientid);
    if (!e || e.owner !== owner) return;
    e.owner = undefined;
    e.session.detach();
    if (version !== V2) {
      // v1 has no ids and no resume: nothing is worth keeping.
      this.entries.delete(clientid);
      void e.session.clear().catch(() => {});
      return;
    }
    if (!e.session.resumable) {
      e.session.dropDownlinks();
      const sub = e.session.subscription;
      e.session.subscription = undefined;
      void sub?.unsubscribe().catch(() => {});
    }
    this.idle.set(clientid, e);
    e.session.expiryTimer = setTimeout(() => this.forget(e), this.limits.sessionExpiry);
    e.session.expiryTimer.unref();
  }

  /**
   * An operator's kick (DELETE /api/v5/devices/tcp/{id}): closes the device's connection with
   * `reason` and forgets its session, as EMQX's kick discards the session: queued and unacked
   * downlinks are dropped and a v2 resume gets session-present 0. False when the id is unknown.
   */
  discard(clientid: string, reason: string): Promise<boolean> {
    return this.locked(clientid, async () => {
      const e = this.entries.get(clientid);
      if (!e) return false;
      e.owner?.kick(reason);
      const left = this.entries.get(clientid);
      if (left && !left.owner) {
        if (left.session.expiryTimer) clearTimeout(left.session.expiryTimer);
        left.session.expiryTimer = undefined;
        this.forget(left);
      }
      return true;
    });
  }

  /** Over the bound: forgets the sessions idle longest, skipping any a connection is opening. */
  private evict(): void {
    for (const [id, e] of this.idle) {
      if (this.entries.size <= this.limits.maxSessions) return;
      // An id being opened has its lock held: its connection may attach after the next await.
      if (this.locks.has(id)) continue;
      this.forget(e);
      this.stats.sessionsEvicted.inc();
    }
  }

  private forget(e: Entry): void {
    if (e.owner) return;
    if (this.entries.get(e.session.clientid) === e) this.entries.delete(e.session.clientid);
    if (this.idle.get(e.session.clientid) === e) this.idle.delete(e.session.clientid);
    void e.session.clear().catch(() => {});
  }

  async closeAll(): Promise<void> {
    const all = [...this.entries.values()];
    this.entries.clear();
    this.idle.clear();
    await Promise.all(all.map((e) => e.session.clear().catch(() => {})));
  }

  private async locked<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(id) ?? Promise.resolve();
    const run = prev.then(fn);
    const tail = run.then(
      () => {},
      () => {},
    );
    this.locks.set(id, tail);
    void tail.then(() => {
      if (this.locks.get(id) === tail) this.locks.delete(id);
    });
    return run;
  }
}
