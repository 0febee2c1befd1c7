import type { FrameRecord } from './durable-frames.ts';
import type { QueuedPacket } from './session-queue.ts';

// The records of the broker's session store. Each is one change to the state, replayed through
// the same code that made it (so the bounds and the queue order come out the same); a snapshot is
// the same records for the whole state.

/** brokerId of messages restored at start (renumbered: aedes's own counter starts again at 0). */
export const RESTORED_ID = 'fieldgate:restored';
/** brokerId of a message queued before its PUBACK, until aedes publishes it (ADOPT). */
export const PRE_ID = 'fieldgate:preack';

export const K = {
  /**
   * First frame of a snapshot: `covers` = the first journal generation not in it, `seq` = the
   * sequence number of the last journal record it holds (absent before sequence numbers: 0).
   */
  HEAD: 1,
  SUB_ADD: 2,
  SUB_DEL: 3,
  /** A session ended (clean session, expiry): subscriptions and queue gone. */
  CLEAN: 4,
  ENQ: 5,
  /** aedes gave a queued message its packet id, or a PUBREL replaced a QoS 2 PUBLISH. */
  UPD: 6,
  CLR: 7,
  /** QoS 0 entries (queue_qos0) left the queue as they were sent. */
  TAKE0: 8,
  RETAIN: 9,
  IN_STORE: 10,
  IN_DEL: 11,
  IN_CLEAN: 12,
  /** A message queued before its PUBACK got aedes's identity when aedes published it. */
  ADOPT: 13,
  /** A persistent session's will (aedes putWill), and its removal (published, or a clean DISCONNECT). */
  WILL: 14,
  WILL_DEL: 15,
  /**
   * Shared-subscription messages taken from a member's queue for another member (shared-tags.ts):
   * `ids` = their [brokerId, brokerCounter]. Written after the records of the deliveries that
   * took them, in the same batch. (An ENQ record's `g` names the group of a member's copy.)
   */
  SHARE_TAKE: 16,
} as const;

/** A queued packet (session-queue's shape) with what the journal also keeps. */
export interface StoredPacket extends QueuedPacket {
  cmd?: string;
  retain?: boolean;
  dup?: boolean;
  properties?: unknown;
  messageExpiry?: number;
}

export interface SubRecord {
  qos: number;
  rh?: number;
  rap?: boolean;
  nl?: boolean;
  subscriptionIdentifier?: number;
}

/** The packet's fields without its payload (that goes raw after the JSON). */
export function packetFields(p: StoredPacket): Record<string, unknown> {
  const f: Record<string, unknown> = { cmd: p.cmd ?? 'publish', topic: p.topic, qos: p.qos };
  if (p.retain) f.retain = true;
  if (p.dup) f.dup = true;
  if (p.messageId !== undefined) f.messageId = p.messageId;
  if (p.brokerId !== undefined) f.brokerId = p.brokerId;
  if (p.brokerCounter !== undefined) f.brokerCounter = p.brokerCounter;
  if (p.properties !== undefined) f.properties = p.properties;
  if (p.messageExpiry !== undefined) f.messageExpiry = p.messageExpiry;
  return f;
}

export function payloadOf(p: StoredPacket): Buffer | undefined {
  if (p.payload === undefined) return undefined;
  return typeof p.payload === 'string' ? Buffer.from(p.payload) : p.payload;
}

/** A record, encoded only when written (durable-frames.ts encodeFrame): the payload is shared, not copied. */
export function packetFrame(kind: number, fields: Record<string, unknown>, p: StoredPacket): FrameRecord {
  const payload = payloadOf(p);
  return { kind, fields: { ...fields, p: packetFields(p) }, ...(payload && { payload }) };
}

export function frame(kind: number, fields: Record<string, unknown>): FrameRecord {
  return { kind, fields };
}

/** The packet a record carries, payload included (an empty Buffer when there was none). */
export function packetOf(r: FrameRecord): StoredPacket & Record<string, unknown> {
  const f = (r.fields.p ?? {}) as StoredPacket & Record<string, unknown>;
  const p = { ...f, topic: typeof f.topic === 'string' ? f.topic : undefined };
  if (p.cmd === 'publish' || r.payload) p.payload = r.payload ?? Buffer.alloc(0);
  return p;
}
