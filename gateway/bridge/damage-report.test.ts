import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeLoss } from './damage-report.ts';

const tail = { file: '/d/normal/0.seg', offset: 10_000, bytes: 4096, lost: undefined, action: 'truncated' as const, why: 'frame cut short', afterSeq: 93, maxLost: 137 };

test('a zeroed tail of messages every upstream acknowledged is reported as acknowledged, not as lost', () => {
  const r = describeLoss(tail, 'normal', ['a', 'b'], { positions: { 'a/normal': { seq: 200, seg: 0, off: 0 }, 'b/normal': { seq: 200, seg: 0, off: 0 } }, next: { normal: 200 } });
  assert.deepEqual([r.first, r.end, r.acknowledged, r.unacknowledged], [94, 200, 106, 0]);
  assert.deepEqual(r.lostFor, { a: 0, b: 0 });
  assert.match(r.line, /seq 94\.\.199 \(106 messages\): 106 already acknowledged by every upstream/);
  assert.match(r.line, /at most 137 messages/);
  assert.doesNotMatch(r.line, /unknown number/);
});

test('partly acknowledged: counted per upstream', () => {
  const r = describeLoss(tail, 'normal', ['a', 'b'], { positions: { 'a/normal': { seq: 150, seg: 0, off: 0 }, 'b/normal': { seq: 120, seg: 0, off: 0 } }, next: { normal: 210 } });
  assert.deepEqual([r.first, r.end, r.acknowledged, r.unacknowledged], [94, 210, 26, 90]);
  assert.deepEqual(r.lostFor, { a: 60, b: 90 });
});
