import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { Aedes } from 'aedes';
import { fill, smallFilesystem, smallFsSkip } from '../test/small-fs.ts';
import { DurablePersistence } from './durable-persistence.ts';
import { SharedSubscriptions } from './shared.ts';

// On a full disk (a real 1 MB tmpfs) the store moves no shared message to another member (the
// move could not be journaled: durable-persistence.ts takeShared). A persistent member's session
// that ends then takes its queue with it: its shared messages are lost, and must be counted in
// messages/shared/dropped like any other shared message no member gets.

const GROUP = 'workers\u0000jobs/#'; // shared.ts's group key: group, NUL, filter

test('a full disk: a persistent member whose session ends with shared messages the store cannot move has them counted as dropped', { skip: smallFsSkip() }, async (t) => {
  const fs = smallFilesystem();
  if (typeof fs === 'string') return t.skip(fs);
  const log = { info: () => {}, warn: () => {}, error: () => {} };
  const p = new DurablePersistence({ dir: join(fs.path, 'broker'), log: log as never, maxQueued: 100_000, maxSessionBytes: 1 << 30, maxTotalBytes: 1 << 30, onDrop: () => {}, retryMs: 60_000 });
  const aedes = new Aedes({ persistence: p });
  const counts = { redispatched: 0, dropped: 0 };
  const shared = new SharedSubscriptions(aedes, 'round_robin', {
    maxInFlight: 100,
    redispatched: { inc: (n = 1) => void (counts.redispatched += n) },
    dropped: { inc: (n = 1) => void (counts.dropped += n) },
    store: p,
  });
  try {
    await p.setup({ id: 'fieldgate' });
    await p.addSubscriptions({ id: 'worker-a', clean: false }, [{ topic: '$share/workers/jobs/#', qos: 1 }]);
    const job = (payload: string, n: number) => ({ cmd: 'publish', topic: 'jobs/x', payload: Buffer.from(payload), qos: 1, retain: false, dup: false, brokerId: 'fieldgate', brokerCounter: n });
    await p.outgoingEnqueueCombi([{ clientId: 'worker-a' }], job('job one', 1), GROUP);
    await p.outgoingEnqueueCombi([{ clientId: 'worker-a' }], job('job two', 2), GROUP);
    assert.equal(p.sharedQueued(), 2);
    fill(fs.path);
    // Until a write fails (the journal's last page may take a few): from then on the store refuses.
    let refused = false;
    for (let n = 3; !refused && n < 1000; n++) await p.outgoingEnqueueCombi([{ clientId: 'other' }], job(`x${n}`, n)).catch(() => (refused = true));
    assert.ok(refused, 'the store refuses writes');
    await p.cleanSubscriptions({ id: 'worker-a' }); // its session ends (expired, or a clean-session connect)
    assert.deepEqual(counts, { redispatched: 0, dropped: 2 });
  } finally {
    shared.close();
    await new Promise<void>((r) => aedes.close(() => r()));
    await p.close();
    fs.remove();
  }
});
