import assert from 'node:assert/strict';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../test/helpers.ts';
import { DurablePersistence, type DurableOptions } from './durable-persistence.ts';

// Issue 17 item 12, compaction: a crash (the directory exactly as it is at that instant, which is
// what kill -9 leaves) at each step of a snapshot rotation gives back the state as of some point
// of its history: every record written before the crash, in order, each once. Records appended
// while the write that triggers the rotation is in flight are the hard case: they are in the new
// snapshot and also go to the next journal.

const root = tempDir('fieldgate-durable-rotation-');
test.after(() => root.remove());
const broker = { id: 'fieldgate' };
const log = { info: () => {}, warn: () => {}, error: () => {} };

function pub(topic: string, counter: number) {
  return { cmd: 'publish', topic, payload: Buffer.from(topic), qos: 1, retain: false, dup: false, brokerId: 'fieldgate', brokerCounter: counter };
}

async function state(dir: string): Promise<Record<string, { subs: string[]; queue: string[] }>> {
  const p = new DurablePersistence({ dir, log, maxQueued: 1000, maxSessionBytes: 1 << 30, maxTotalBytes: 1 << 30, onDrop: () => {} });
  await p.setup(broker);
  const out: Record<string, { subs: string[]; queue: string[] }> = {};
  for (const id of ['a', 'b']) {
    const queue: string[] = [];
    for await (const x of p.outgoingStream({ id })) queue.push(x.topic);
    out[id] = { subs: (await p.subscriptionsByClient({ id })).map((s: { topic: string }) => s.topic).sort(), queue };
  }
  await p.close();
  return out;
}

test('a crash at each step of a snapshot rotation: the state as of a point of its history, no record lost before a later one, none applied twice', async () => {
  const dir = join(root.path, 'live');
  const images: Record<string, string> = {};
  let releaseGate!: () => void;
  const gate = new Promise<void>((r) => (releaseGate = r));
  let compacted!: () => void;
  const done = new Promise<void>((r) => (compacted = r));
  const copy = (step: string) => cpSync(dir, (images[step] = join(root.path, step)), { recursive: true });
  const opts: DurableOptions = {
    dir,
    log,
    lazyMs: 60_000,
    compactMin: 1 << 30,
    maxQueued: 1000,
    maxSessionBytes: 1 << 30,
    maxTotalBytes: 1 << 30,
    onDrop: () => {},
    onStep: async (step) => {
      if (step === 'snapshot-written') await gate; // hold the rename until the next journal has more
      copy(step);
      if (step === 'journals-dropped') compacted();
    },
  };
  const p = new DurablePersistence(opts);
  await p.setup(broker);
  await p.addSubscriptions({ id: 'a', clean: false }, [{ topic: 'old/#', qos: 1 }]);
  await p.outgoingEnqueueCombi([{ clientId: 'a' }], pub('old/1', 1));
  await p.addSubscriptions({ id: 'b', clean: false }, [{ topic: 'm/#', qos: 1 }]);
  opts.compactMin = 1; // the next write starts a rotation

  const m1 = p.outgoingEnqueueCombi([{ clientId: 'b' }], pub('m/1', 2)); // its write is in flight now
  // Appended while that write is in flight: pending at the rotation, so in its snapshot.
  const cleaned = p.cleanSubscriptions({ id: 'a' }); // a's session ends (a lazy record)
  const m2 = p.outgoingEnqueueCombi([{ clientId: 'b' }], pub('m/2', 3));
  await m1;
  // After the rotation: a new session for a, acknowledged (SUBACK) once on disk.
  await p.addSubscriptions({ id: 'a', clean: false }, [{ topic: 'new/#', qos: 1 }]);
  await Promise.all([cleaned, m2]);
  releaseGate();
  await done;
  await p.close();

  // At the rotation: what was written before it (old snapshot and journal), nothing after.
  assert.deepEqual(await state(images.rotated!), { a: { subs: ['old/#'], queue: ['old/1'] }, b: { subs: ['m/#'], queue: ['m/1'] } });
  // Later: a's session ended before its new one began, so the old subscription and queue stay
  // gone, in every image (old snapshot + both journals, new snapshot + next journal, live dir).
  const after = { a: { subs: ['new/#'], queue: [] }, b: { subs: ['m/#'], queue: ['m/1', 'm/2'] } };
  for (const step of ['snapshot-written', 'snapshot-renamed', 'journals-dropped']) assert.deepEqual(await state(images[step]!), after, `crash at ${step}`);
  assert.deepEqual(await state(dir), after, 'after a clean stop');
});
