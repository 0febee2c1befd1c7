import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../log/logger.ts';
import { readFrames, type FrameRecord, type ReadResult } from './durable-frames.ts';
import { SNAPSHOT, dropJournalsBelow, journalFile, journalGenerations, writeSnapshotSync } from './durable-journal.ts';
import { K, PRE_ID, RESTORED_ID, packetOf, type StoredPacket, type SubRecord } from './durable-records.ts';
import { BoundedPersistence, type SessionQueues } from './session-queue.ts';

// Start of the broker's session store: snapshot, then the journals it does not cover, replayed
// through the in-memory store's own methods; then a fresh snapshot, so the next journal starts
// from a known state. A torn tail (a write cut short by a crash or power cut) ends that file's
// replay with one warning: only an unacknowledged write can be torn, as every acknowledged one
// was fsync'd before its acknowledgement.

export interface StoreState {
  subs: Map<string, Map<string, SubRecord>>;
  retained: Map<string, StoredPacket>;
  incoming: Map<string, Map<number, StoredPacket>>;
}

interface Target {
  capture(covers: number): Buffer[];
  enqueueOne(clientId: string, p: StoredPacket): StoredPacket | undefined;
}

export interface Recovered {
  gen: number;
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
  const apply = (r: FrameRecord): void => {
    const f = r.fields as Record<string, any>;
    const id = { id: f.c as string };
    switch (r.kind) {
      case K.HEAD:
        covers = Number(f.covers) || 0;
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
        }
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
      default:
        break; // a record kind from a newer version: skipped
    }
  };
  return { apply, covers: () => covers };
}

export function recoverStore(dir: string, target: BoundedPersistence & Target, st: StoreState, bounded: SessionQueues, log: Pick<Logger, 'info' | 'warn'>): Recovered {
  const t0 = Date.now();
  const { apply, covers } = replayer(target, st, bounded);
  const torn = (file: string, r: ReadResult) => {
    if (r.badBytes > 0) log.warn({ file, records: r.records, unreadable_bytes: r.badBytes }, `broker persistence: ${file} ends in ${r.badBytes} unreadable bytes (a write cut short by a crash or power cut, never acknowledged); replayed the ${r.records} whole records before them`);
  };
  const snap = join(dir, SNAPSHOT);
  if (existsSync(snap)) {
    // A snapshot is renamed into place whole: damage in it is the storage's, and costs what follows it.
    const r = readFrames(snap, apply);
    if (r.badBytes > 0) log.warn({ file: snap, records: r.records, unreadable_bytes: r.badBytes }, `broker persistence: ${snap} is damaged after its first ${r.records} records (${r.badBytes} bytes unreadable: storage fault?); the sessions and messages in them are lost`);
  }
  let gen = covers();
  for (const g of journalGenerations(dir)) {
    if (g < covers()) continue; // left by a crash between the snapshot's rename and the unlink
    const file = journalFile(dir, g);
    torn(file, readFrames(file, apply));
    gen = Math.max(gen, g + 1);
  }
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
    snapshotBytes = writeSnapshotSync(dir, target.capture(gen));
    dropJournalsBelow(dir, gen);
  } catch (err) {
    error = err as Error;
  }
  if (ids.size || st.retained.size)
    log.info({ dir, sessions: ids.size, queued, retained: st.retained.size, ms: Date.now() - t0 }, `broker persistence: restored ${ids.size} persistent sessions (${queued} queued messages) and ${st.retained.size} retained messages from ${dir}`);
  return { gen, snapshotBytes, sessions, ...(error && { error }) };
}
