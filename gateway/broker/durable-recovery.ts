import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../log/logger.ts';
import { FRAME_HEADER, readFrames, type FrameRecord, type ReadResult } from './durable-frames.ts';
import { SNAPSHOT, dropJournalsBelow, journalFile, journalGenerations, writeSnapshotSync } from './durable-journal.ts';
import { K, PRE_ID, RESTORED_ID, packetOf, type StoredPacket, type SubRecord } from './durable-records.ts';
import type { WillOwner, WillPacket, WillStore } from './durable-wills.ts';
import type { RetainedBound } from './retained-bound.ts';
import { BoundedPersistence, type SessionQueues } from './session-queue.ts';

// Start of the broker's session store: snapshot, then the journals it does not cover, replayed
// through the in-memory store's own methods; then a fresh snapshot, so the next journal starts
// from a known state. A damaged region is skipped to the next frame that checks out, with one
// warning per file: at the end it is a torn tail (a write cut short by a crash or power cut, only
// ever an unacknowledged one, as every acknowledged write was fsync'd first); in the middle it is
// a storage fault, and costs the records in it, not the ones after.

export interface StoreState {
  subs: Map<string, Map<string, SubRecord>>;
  retained: Map<string, StoredPacket>;
  incoming: Map<string, Map<number, StoredPacket>>;
}

interface Target {
  capture(covers: number, seq: number): Iterable<FrameRecord>;
  enqueueOne(clientId: string, p: StoredPacket): StoredPacket | undefined;
  readonly wills: WillStore;
  readonly retainedBound: RetainedBound;
}

export interface Recovered {
  gen: number;
  /** The highest journal sequence number seen: the journal goes on after it. */
  seq: number;
  snapshotBytes: number;
  sessions: { clientId: string; subs: { topic: string; qos: number }[] }[];
  /** The start snapshot could not be written (disk full): the store starts refusing. */
  error?: Error;
}

const base = BoundedPersistence.prototype as any;
const noop = () => {};

function replayer(target: BoundedPersistence & Target, st: StoreState, bounded: SessionQueues) {
  const pre = new Map<number, StoredPacket[]>();
  let covers = 0;
  /** Last journal record the snapshot holds; highest one seen. */
  let snapSeq = 0;
  let maxSeq = 0;
  const apply = (r: FrameRecord): void => {
    const f = r.fields as Record<string, any>;
    const id = { id: f.c as string };
    switch (r.kind) {
      case K.HEAD:
        covers = Number(f.covers) || 0;
        snapSeq = maxSeq = Number(f.seq) || 0;
        break;
      case K.SUB_ADD: {
        const subs = f.subs as ({ topic: string } & SubRecord)[];
        let m = st.subs.get(id.id);
        if (!m) st.subs.set(id.id, (m = new Map()));
        for (const { topic, ...rec } of subs) m.set(topic, rec);
        base.addSubscriptions.call(target, id, subs).catch(noop);
        break;
      }
      case K.SUB_DEL: {
        const m = st.subs.get(id.id);
        for (const t of f.topics as string[]) m?.delete(t);
        if (m && !m.size) st.subs.delete(id.id);
        base.removeSubscriptions.call(target, id, f.topics).catch(noop);
        break;
      }
      case K.CLEAN:
        st.subs.delete(id.id);
        base.cleanSubscriptions.call(target, id).catch(noop);
        break;
      case K.ENQ: {
        const p = packetOf(r);
        for (const c of f.cs as string[]) {
          const item = target.enqueueOne(c, p);
          // aedes's Packet drops the packet id and gives a PUBREL QoS 0 (which would read as a
          // queue_qos0 entry): put back what was stored.
          if (item) {
            item.messageId = p.messageId;
            if (p.cmd !== 'publish') item.qos = p.qos;
          }
          if (item && p.brokerId === PRE_ID) pre.set(p.brokerCounter!, [...(pre.get(p.brokerCounter!) ?? []), item]);
          if (item && typeof f.g === 'string') target.shareTags.tag(item, c, f.g); // a shared-subscription member's copy
        }
        break;
      }
      case K.SHARE_TAKE: {
        // Handed to other members: [brokerId, brokerCounter] of each (unique in the queue).
        const ids = new Set((f.ids as [string, number][]).map(([b, k]) => `${b}\u0000${k}`));
        const items = bounded.queues.get(id.id)?.items.filter((p) => ids.has(`${p.brokerId}\u0000${p.brokerCounter}`)) ?? [];
        bounded.removeItems(id.id, new Set(items));
        break;
      }
      case K.UPD:
        base.outgoingUpdate.call(target, id, packetOf(r)).catch(noop);
        break;
      case K.CLR:
        base.outgoingClearMessageId.call(target, id, { messageId: f.mid }).catch(noop);
        break;
      case K.TAKE0:
        bounded.take(id.id);
        break;
      case K.RETAIN: {
        const p = packetOf(r);
        if (!p.topic) break;
        if ((p.payload as Buffer).length === 0) st.retained.delete(p.topic);
        else st.retained.set(p.topic, p);
        target.retainedBound.admit(p, true); // what was kept stays, even under a lowered bound
        base.storeRetained.call(target, p).catch(noop);
        break;
      }
      case K.IN_STORE: {
        const p = packetOf(r) as StoredPacket & { messageId: number };
        let m = st.incoming.get(id.id);
        if (!m) st.incoming.set(id.id, (m = new Map()));
        m.set(p.messageId, p);
        base.incomingStorePacket.call(target, id, p).catch(noop);
        break;
      }
      case K.IN_DEL:
        st.incoming.get(id.id)?.delete(f.mid);
        base.incomingDelPacket.call(target, id, { messageId: f.mid }).catch(noop);
        break;
      case K.IN_CLEAN:
        st.incoming.delete(id.id);
        base.cleanIncoming.call(target, id).catch(noop);
        break;
      case K.ADOPT:
        for (const item of pre.get(f.n) ?? []) {
          item.brokerId = f.b;
          item.brokerCounter = f.k;
        }
        pre.delete(f.n);
        break;
      case K.WILL:
        target.wills.restore(id.id, packetOf(r) as WillPacket, f.o as WillOwner | undefined);
        break;
      case K.WILL_DEL:
        target.wills.wills.delete(id.id);
        break;
      default:
        break; // a record kind from a newer version: skipped
    }
  };
  /**
   * A journal record: applied only when the snapshot does not hold it already (sequence numbers
   * above the snapshot's; a record written before sequence numbers has none and is applied).
   */
  const applyJournal = (r: FrameRecord): void => {
    const q = r.fields.q;
    if (typeof q === 'number') {
      if (q <= snapSeq) return;
      maxSeq = Math.max(maxSeq, q);
    }
    apply(r);
  };
  return { apply, applyJournal, covers: () => covers, seq: () => maxSeq };
}

/** The smallest frame readFrames accepts: a torn tail of n bytes held at most n / this many records. */
const MIN_FRAME = FRAME_HEADER + 5;

/** What a torn tail cost: its records cannot be read, so their count and sequence numbers are bounded, not known. */
interface TailLoss {
  bytes: number;
  atMost: number;
  /** The sequence numbers they could have had: after the last one read, up to `lastSeq`. */
  firstSeq: number;
  lastSeq: number;
}

function tailLoss(r: ReadResult, seqRead: number): TailLoss | undefined {
  const tail = r.damaged.at(-1);
  if (!tail || tail.to !== r.size) return undefined;
  const bytes = tail.to - tail.from;
  const atMost = Math.floor(bytes / MIN_FRAME);
  return { bytes, atMost, firstSeq: seqRead + 1, lastSeq: seqRead + atMost };
}

/**
 * One warning per damaged file. A region at the end is a torn tail: a write cut short by a crash
 * is never acknowledged (each acknowledged one was fdatasync'd first), but storage that loses data
 * it reported written (some SD cards and USB sticks on power loss) takes acknowledged records with
 * it, so the line says what was lost, not that it was harmless. One in the middle was skipped, and
 * the records after it replayed.
 */
function damage(log: Pick<Logger, 'warn'>, file: string, r: ReadResult, tailCause: string, loss?: TailLoss): void {
  if (!r.damaged.length) return;
  const tail = r.damaged.at(-1)!.to === r.size ? r.damaged.at(-1)! : undefined;
  const middle = r.damaged.filter((d) => d !== tail);
  const skipped = middle.reduce((n, d) => n + d.to - d.from, 0);
  const parts = [];
  if (middle.length) parts.push(`skipped ${skipped} damaged bytes in ${middle.length} region(s) (at ${middle.slice(0, 5).map((d) => `${d.from}-${d.to}`).join(', ')}${middle.length > 5 ? ', ...' : ''}: storage fault?; the records in them are lost, the ones after them replayed)`);
  if (tail && loss) {
    const range = loss.atMost ? `, at most ${loss.atMost} records, sequence numbers ${loss.firstSeq}-${loss.lastSeq} at most` : '';
    parts.push(`ends in ${tail.to - tail.from} unreadable bytes (${tailCause}): the records written there are lost${range}; they may include acknowledged messages if the storage lost data it had reported written (fdatasync); new records are numbered after ${loss.lastSeq}`);
  } else if (tail) parts.push(`ends in ${tail.to - tail.from} unreadable bytes (${tailCause})`);
  log.warn(
    {
      file, records: r.records, skipped_bytes: skipped, unreadable_bytes: tail ? tail.to - tail.from : 0,
      ...(loss && { lost_records_at_most: loss.atMost, lost_first_seq: loss.firstSeq, lost_last_seq_at_most: loss.lastSeq }),
    },
    `broker persistence: ${file} ${parts.join(' and ')}; replayed the ${r.records} whole records`,
  );
}

export function recoverStore(dir: string, target: BoundedPersistence & Target, st: StoreState, bounded: SessionQueues, log: Pick<Logger, 'info' | 'warn'>): Recovered {
  const t0 = Date.now();
  const { apply, applyJournal, covers, seq } = replayer(target, st, bounded);
  // A CLEAN replayed is a session that ended then: its shared messages went to other members then.
  target.shareTags.muted = true;
  const snap = join(dir, SNAPSHOT);
  // A snapshot is renamed into place whole: damage in it is the storage's.
  if (existsSync(snap)) damage(log, snap, readFrames(snap, apply), 'storage fault?');
  let gen = covers();
  let floor = 0; // sequence numbers a torn tail may have used: never given out again
  for (const g of journalGenerations(dir)) {
    if (g < covers()) continue; // left by a crash between the snapshot's rename and the unlink
    const file = journalFile(dir, g);
    const r = readFrames(file, applyJournal);
    const loss = tailLoss(r, seq());
    if (loss) floor = Math.max(floor, loss.lastSeq);
    damage(log, file, r, 'a write cut short by a crash or power cut, or storage that lost written data', loss);
    gen = Math.max(gen, g + 1);
  }
  target.shareTags.muted = false;
  const nextSeq = Math.max(seq(), floor);
  // A new identity for every restored message: aedes's counter starts again at 0, and a queued
  // message is found by (brokerId, brokerCounter) when aedes gives it a packet id.
  let n = 0;
  let queued = 0;
  for (const q of bounded.queues.values()) {
    for (const p of q.items) {
      p.brokerId = RESTORED_ID;
      p.brokerCounter = ++n;
    }
    queued += q.items.length;
  }
  const ids = new Set([...st.subs.keys(), ...bounded.queues.keys(), ...st.incoming.keys()]);
  const sessions = [...ids].map((clientId) => ({ clientId, subs: [...(st.subs.get(clientId) ?? [])].map(([topic, s]) => ({ topic, qos: s.qos })) }));
  let snapshotBytes = 0;
  let error: Error | undefined;
  try {
    snapshotBytes = writeSnapshotSync(dir, target.capture(gen, nextSeq));
    dropJournalsBelow(dir, gen);
  } catch (err) {
    error = err as Error;
  }
  if (ids.size || st.retained.size)
    log.info({ dir, sessions: ids.size, queued, retained: st.retained.size, ms: Date.now() - t0 }, `broker persistence: restored ${ids.size} persistent sessions (${queued} queued messages) and ${st.retained.size} retained messages from ${dir}`);
  return { gen, seq: nextSeq, snapshotBytes, sessions, ...(error && { error }) };
}
