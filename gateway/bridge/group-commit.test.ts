import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { tempDir } from '../test/helpers.ts';
import { SegmentLog } from './segment-log.ts';

// The group commit's timing, on a frozen clock: setTimeout and Date are mocked and only move when
// the test ticks them, so "committed without waiting for sync_interval" is a fact about which
// timer ran, not a wall-clock measurement. setImmediate and the file system stay real.

const INTERVAL = 60_000;
let dir: { path: string; remove(): void };

beforeEach(() => {
  dir = tempDir('fieldgate-groupcommit-');
});
afterEach(() => {
  mock.timers.reset();
  dir.remove();
});

const rec = (i: number) => [{ topic: `t/${i}`, payload: Buffer.from(`m${i}`), qos: 1 as const, retain: false, mask: 1 }];
const nextTurn = () => new Promise<void>((r) => setImmediate(r));

describe('segment log group commit', () => {
  it('commits the first append after a quiet period at once, without waiting for sync_interval', async () => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
    const log = new SegmentLog({ dir: dir.path, name: 'normal', segmentBytes: 1 << 20, syncInterval: INTERVAL });
    await log.open();
    // Each append finds the lane idle (the previous one is durable): each is committed on its own,
    // right after the previous commit, though the frozen clock never reaches sync_interval. The
    // old fixed spacing would hold the second one on a 60 s timer that never fires here.
    for (let i = 0; i < 3; i++) {
      await log.append(rec(i));
      assert.equal(log.syncs, i + 1, `append ${i} committed by its own fsync`);
    }
    assert.equal(Date.now(), 1_000_000, 'the clock never moved: no timer was waited for');
    await log.close();
  });

  it('appends arriving during a commit share the next one, started sync_interval after the previous', async () => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
    const log = new SegmentLog({ dir: dir.path, name: 'normal', segmentBytes: 1 << 20, syncInterval: INTERVAL });
    await log.open();
    const first = log.append(rec(0));
    await nextTurn(); // the commit of the first append has started (it runs on the next turn)
    let later = 0;
    const rest = [1, 2, 3].map((i) => log.append(rec(i)).then(() => void later++));
    await first;
    await nextTurn(); // the first commit is over; the next one is scheduled
    assert.equal(log.syncs, 1);
    assert.equal(later, 0, 'the busy lane waits for sync_interval: one fsync for the whole batch');
    mock.timers.tick(INTERVAL);
    await Promise.all(rest);
    assert.equal(log.syncs, 2, 'the three appends that arrived during the first commit shared one fsync');
    await log.close();
  });

  it('with sync_interval 0, appends arriving during a commit share the next one, started as soon as it ends', async () => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
    const log = new SegmentLog({ dir: dir.path, name: 'normal', segmentBytes: 1 << 20, syncInterval: 0 });
    await log.open();
    const first = log.append(rec(0));
    await nextTurn(); // the first commit has started
    const rest = [1, 2, 3].map((i) => log.append(rec(i)));
    await first;
    // No timer is ticked: the second commit needs none.
    await Promise.all(rest);
    assert.equal(log.syncs, 2, 'the three appends that arrived during the first commit shared one fsync');
    await log.close();
  });

  it('settles the appends of a commit before it wakes the readers', async () => {
    // The publisher's acknowledgement (an append's continuation) goes out before a consumer,
    // woken by "durable", sends the same records upstream: a device waiting for its PUBACK does
    // not also wait for the bridge's write to the cloud.
    const log = new SegmentLog({ dir: dir.path, name: 'normal', segmentBytes: 1 << 20, syncInterval: 0 });
    await log.open();
    const order: string[] = [];
    const woken = new Promise<void>((resolve) => log.once('durable', () => (order.push('durable'), resolve())));
    // Several promise hops, as between the log and the broker's PUBACK (ingress hooks, aedes).
    const acked = log.append(rec(0)).then(() => undefined).then(() => undefined).then(() => void order.push('acknowledged'));
    await Promise.all([acked, woken]);
    assert.deepEqual(order, ['acknowledged', 'durable']);
    assert.equal(log.endPos().seq, 1, 'the end had moved before the wake-up: a woken reader finds the record');
    await log.close();
  });
});
